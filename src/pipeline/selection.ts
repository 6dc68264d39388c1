// Which objects a run or a plan considers (etl run/plan/reload --only, --since, --until). Objects
// outside the selection are neither loaded nor marked gone.
import path from 'node:path';

export interface Selection {
  /** Keys that start with this (etl reload PREFIX). */
  prefix?: string;
  /** A glob over object keys as `etl status` shows them (`*` within a folder, `**` across folders). */
  only?: string;
  /** Objects modified at or after this time. */
  since?: Date;
  /** Objects modified before this time. */
  until?: Date;
}

export function selects(selection: Selection, key: string, lastModified: Date): boolean {
  if (selection.prefix !== undefined && !key.startsWith(selection.prefix)) return false;
  if (selection.only !== undefined && !path.posix.matchesGlob(key, selection.only)) return false;
  if (selection.since !== undefined && lastModified < selection.since) return false;
  if (selection.until !== undefined && lastModified >= selection.until) return false;
  return true;
}

export function isNarrowed(selection: Selection): boolean {
  return selection.prefix !== undefined || selection.only !== undefined || selection.since !== undefined || selection.until !== undefined;
}

/** For logs and summaries. */
export function selectionFields(selection: Selection): Record<string, string> {
  return {
    ...(selection.prefix !== undefined && { prefix: selection.prefix }),
    ...(selection.only !== undefined && { only: selection.only }),
    ...(selection.since !== undefined && { since: selection.since.toISOString() }),
    ...(selection.until !== undefined && { until: selection.until.toISOString() }),
  };
}
