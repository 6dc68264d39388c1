// The spec's value kinds and its defect-1 rule (spec, "Known defects" 1), implemented here on their
// own so the oracle does not depend on src/read.
//
// A value is judged three ways: 'yes' (fits under any sensible reading of the spec), 'no' (fits under
// none) or 'maybe' (depends on a detail the spec leaves open: a timestamp in another file's form, a
// 10-digit quantity, '-1', a non-ASCII letter in an id...). The generator only keeps a defect-1 row
// when the rule's outcome does not depend on any 'maybe', so the oracle never guesses.

import type { Kind } from '../model/export.ts';
import { parseTimestamp, type TimestampForm } from './timestamp.ts';

export type Fit = 'yes' | 'no' | 'maybe';

const EXCEL_TEXT = /^="(.*)"$/s;
const DIGITS = /^[0-9]+$/;
const ALNUM = /^[A-Za-z0-9]+$/;
const UNICODE_ALNUM = /^[\p{L}\p{N}]+$/u;
const DECIMAL = /^([0-9]+)(\.[0-9]+)?$/;
const LOOSE_NUMBER = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** ids are trimmed text; an Excel text escape `="0001234567"` is unwrapped (spec, "Columns"). */
export function idValue(raw: string): string {
  const trimmed = raw.trim();
  const m = EXCEL_TEXT.exec(trimmed);
  return m ? (m[1] as string) : trimmed;
}

function fitsTrimmed(kind: Kind, text: string, form: TimestampForm | undefined): Fit {
  switch (kind) {
    case 'number': {
      if (EXCEL_TEXT.test(text)) return 'maybe';
      const m = DECIMAL.exec(text);
      if (m) {
        const whole = m[1] as string;
        // 10+ digits may overflow an integer column; '02134' is a number to some readers, not others.
        return whole.length > 9 || (whole.length > 1 && whole.startsWith('0')) ? 'maybe' : 'yes';
      }
      return LOOSE_NUMBER.test(text) ? 'maybe' : 'no';
    }
    case 'timestamp': {
      const ts = parseTimestamp(text);
      if (!ts) return 'no';
      return form === undefined || ts.form === form ? 'yes' : 'maybe';
    }
    default:
      return 'yes';
  }
}

/** Does a raw field fit its column's kind? Empty is NULL and fits. Text kinds always fit. */
export function fitsKind(kind: Kind, raw: string, form?: TimestampForm): Fit {
  if (kind === 'text' || kind === 'freetext') return 'yes';
  if (raw === '') return 'yes';
  if (kind === 'digits' || kind === 'alnum') {
    const id = idValue(raw);
    if (id === '') return raw.trim() === '' ? 'yes' : 'maybe'; // `=""`
    if (kind === 'digits') return DIGITS.test(id) ? 'yes' : 'no';
    if (ALNUM.test(id)) return 'yes';
    return UNICODE_ALNUM.test(id) ? 'maybe' : 'no';
  }
  const trimmed = raw.trim();
  if (trimmed === '') return 'maybe';
  const fit = fitsTrimmed(kind, trimmed, form);
  return trimmed !== raw && fit === 'yes' ? 'maybe' : fit;
}

/** Whether every id, timestamp and number column of a row (fields in header order) fits. */
export function rowFits(fields: readonly string[], kinds: readonly (Kind | null)[], form?: TimestampForm): Fit {
  let result: Fit = 'yes';
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[i];
    if (kind === null || kind === undefined || kind === 'text' || kind === 'freetext') continue;
    const fit = fitsKind(kind, fields[i] ?? '', form);
    if (fit === 'no') return 'no';
    if (fit === 'maybe') result = 'maybe';
  }
  return result;
}

export type RepairDecision =
  | { outcome: 'repair'; position: number; fields: string[] }
  | { outcome: 'quarantine'; reason: 'no-column-fits' | 'ambiguous' }
  | { outcome: 'undetermined' };

/** The fields of a too-long row with the surplus rejoined with ',' into the column at `position`. */
export function rejoinAt(fields: readonly string[], columns: number, position: number): string[] {
  const surplus = fields.length - columns;
  return [
    ...fields.slice(0, position),
    fields.slice(position, position + surplus + 1).join(','),
    ...fields.slice(position + surplus + 1),
  ];
}

/**
 * Defect 1: a row with more fields than the header. `kinds` gives the kind of each header position
 * (null for an unknown extra column). The surplus is rejoined into the one free-text column for which
 * every id, timestamp and number column then fits; if none or more than one does, the row is
 * quarantined. 'undetermined' means the outcome hangs on a 'maybe'.
 */
export function decideUnquotedFreeText(
  fields: readonly string[],
  kinds: readonly (Kind | null)[],
  form?: TimestampForm,
): RepairDecision {
  if (fields.length <= kinds.length) throw new Error('decideUnquotedFreeText: the row is not longer than the header');
  let yes: { position: number; fields: string[] } | undefined;
  let yesCount = 0;
  let maybeCount = 0;
  for (let p = 0; p < kinds.length; p++) {
    if (kinds[p] !== 'freetext') continue;
    const candidate = rejoinAt(fields, kinds.length, p);
    const fit = rowFits(candidate, kinds, form);
    if (fit === 'yes') {
      yesCount++;
      yes = { position: p, fields: candidate };
    } else if (fit === 'maybe') maybeCount++;
  }
  if (yesCount >= 2) return { outcome: 'quarantine', reason: 'ambiguous' };
  if (maybeCount > 0) return { outcome: 'undetermined' };
  if (yesCount === 1 && yes) return { outcome: 'repair', position: yes.position, fields: yes.fields };
  return { outcome: 'quarantine', reason: 'no-column-fits' };
}
