// The header of one object mapped onto the export columns (spec, "Columns"): aliases, case,
// spaces and order are free; unknown columns are ignored and named; SR Number is required.
import { EXPORT_COLUMNS, columnForHeader, type Kind } from '../model/export.ts';
import { storableText } from '../safe-text.ts';

export interface Layout {
  /** Number of fields in the header line (a trailing comma counts as one more, empty-named). */
  readonly width: number;
  /** For each export column (EXPORT_COLUMNS order), its position in the header or -1. */
  readonly positions: readonly number[];
  /** Header names that are no export column (an empty name is shown as ""). */
  readonly extras: readonly string[];
  /** Export columns the header lacks. */
  readonly missing: readonly string[];
  /** Header positions of free-text columns, left to right (candidates for the defect-1 repair). */
  readonly freeTextPositions: readonly number[];
  /** Header positions and kinds of the id, timestamp and number columns. */
  readonly typedPositions: ReadonlyArray<{ position: number; kind: Kind }>;
}

export class MissingRequiredColumnsError extends Error {
  override name = 'MissingRequiredColumnsError';
  readonly errorClass = 'MISSING_REQUIRED_COLUMNS';
}

/** `delimiter` (how the header was read, in words) goes into the message when the header lacks a required column. */
export function layoutFromHeader(header: readonly string[], delimiter = ','): Layout {
  const positions = EXPORT_COLUMNS.map(() => -1);
  const extras: string[] = [];
  header.forEach((name, position) => {
    const column = columnForHeader(name);
    const index = column ? EXPORT_COLUMNS.indexOf(column) : -1;
    if (index === -1 || positions[index] !== -1) {
      // Unknown, or a second header for a column already mapped: ignored, and said (stored in
      // the ledger, so a NUL in the name is made storable).
      extras.push(storableText(name.trim()));
      return;
    }
    positions[index] = position;
  });
  const missingRequired = EXPORT_COLUMNS.filter((column, index) => column.required && positions[index] === -1);
  if (missingRequired.length > 0) {
    const names = missingRequired.map((column) => `"${column.header}"`).join(', ');
    const shown = header.slice(0, 6).map((name) => JSON.stringify(storableText(name.length > 40 ? `${name.slice(0, 40)}…` : name))).join(', ');
    throw new MissingRequiredColumnsError(
      `the header has no ${names} column (also accepted: ${missingRequired.flatMap((column) => column.aliases).join(', ')}) under any of the delimiters (',', ';', tab, '|'); ` +
        `read with ${delimiter === 'tab' ? 'tabs' : `'${delimiter}'`} its ${header.length} field${header.length === 1 ? '' : 's'} begin ${shown}${header.length > 6 ? ', …' : ''}; fix the export's header line`,
    );
  }
  const freeTextPositions: number[] = [];
  const typedPositions: Array<{ position: number; kind: Kind }> = [];
  EXPORT_COLUMNS.forEach((column, index) => {
    const position = positions[index]!;
    if (position === -1) return;
    if (column.kind === 'freetext') freeTextPositions.push(position);
    else if (column.kind !== 'text') typedPositions.push({ position, kind: column.kind });
  });
  freeTextPositions.sort((a, b) => a - b);
  return {
    width: header.length,
    positions,
    extras,
    missing: EXPORT_COLUMNS.filter((_, index) => positions[index] === -1).map((column) => column.header),
    freeTextPositions,
    typedPositions,
  };
}
