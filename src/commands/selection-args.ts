// --only, --since and --until, as etl run, plan and reload take them (pipeline/selection.ts).
import type { Selection } from '../pipeline/selection.ts';
import { parseTime } from './args.ts';

export const SELECTION_OPTIONS = {
  only: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const;

export const SELECTION_HELP = `  --only GLOB     only objects whose key matches (as \`etl status\` shows keys; * within a
                  folder, ** across folders: 'exports/2024/**', '**/*.csv.gz')
  --since TIME    only objects modified at or after TIME (2026-11-01 or 2026-11-01T06:00:00Z)
  --until TIME    only objects modified before TIME
Objects outside the selection are neither loaded nor marked gone.`;

export function selectionFrom(command: string, values: { only?: string; since?: string; until?: string }): Selection {
  const since = parseTime(command, 'since', values.since);
  const until = parseTime(command, 'until', values.until);
  return {
    ...(values.only !== undefined && { only: values.only }),
    ...(since && { since }),
    ...(until && { until }),
  };
}
