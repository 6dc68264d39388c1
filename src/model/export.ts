// The Toshiba export layout (spec/toshiba-export.md, "Columns"): 29 columns, their aliases and kinds.
// This is the single place that knows header names; everything downstream uses `field`.

/** How a column's text is checked and stored. */
export type Kind =
  | 'digits' // id made of digits only (leading zeros kept: stored as text)
  | 'alnum' // id made of letters and digits
  | 'text'
  | 'freetext' // may carry unquoted commas (defect 1)
  | 'timestamp'
  | 'number';

export interface ExportColumn {
  /** Header as the spec writes it. */
  readonly header: string;
  /** Other headers seen for the same column. */
  readonly aliases: readonly string[];
  /** snake_case name used in staging and targets. */
  readonly field: string;
  readonly kind: Kind;
  readonly required?: boolean;
}

export const EXPORT_COLUMNS: readonly ExportColumn[] = [
  { header: 'SR Number', aliases: ['SR #', 'Incident Number'], field: 'sr_number', kind: 'digits', required: true },
  { header: 'SR Type', aliases: [], field: 'sr_type', kind: 'text' },
  { header: 'SR Status', aliases: [], field: 'sr_status', kind: 'text' },
  { header: 'Severity', aliases: [], field: 'severity', kind: 'text' },
  { header: 'Created Date', aliases: ['Incident Date'], field: 'created_at', kind: 'timestamp' },
  { header: 'Closed Date', aliases: [], field: 'closed_at', kind: 'timestamp' },
  { header: 'Problem Code', aliases: [], field: 'problem_code', kind: 'text' },
  { header: 'Resolution Code', aliases: [], field: 'resolution_code', kind: 'text' },
  { header: 'SR Summary', aliases: [], field: 'summary', kind: 'freetext' },
  { header: 'Account Number', aliases: ['Customer Account', 'Account #'], field: 'account_number', kind: 'digits' },
  { header: 'Customer Name', aliases: [], field: 'customer_name', kind: 'text' },
  { header: 'Site City', aliases: [], field: 'site_city', kind: 'text' },
  { header: 'Site State', aliases: [], field: 'site_state', kind: 'text' },
  { header: 'Site Postal Code', aliases: [], field: 'site_postal_code', kind: 'text' },
  { header: 'Site Country', aliases: [], field: 'site_country', kind: 'text' },
  { header: 'Product', aliases: [], field: 'product', kind: 'text' },
  { header: 'Serial Number', aliases: [], field: 'serial_number', kind: 'alnum' },
  { header: 'Task Number', aliases: ['Task #'], field: 'task_number', kind: 'digits' },
  { header: 'Task Type', aliases: [], field: 'task_type', kind: 'text' },
  { header: 'Task Status', aliases: [], field: 'task_status', kind: 'text' },
  { header: 'Assigned Technician', aliases: ['Technician'], field: 'technician', kind: 'text' },
  { header: 'Scheduled Start', aliases: [], field: 'scheduled_start', kind: 'timestamp' },
  { header: 'Actual End', aliases: [], field: 'actual_end', kind: 'timestamp' },
  { header: 'Part Number', aliases: ['Part #', 'Item Number'], field: 'part_number', kind: 'alnum' },
  { header: 'Part Description', aliases: [], field: 'part_description', kind: 'freetext' },
  { header: 'Quantity Used', aliases: ['Qty'], field: 'quantity', kind: 'number' },
  { header: 'Note Type', aliases: [], field: 'note_type', kind: 'text' },
  { header: 'Note Date', aliases: [], field: 'note_date', kind: 'timestamp' },
  { header: 'Note Text', aliases: ['Notes', 'Note'], field: 'note_text', kind: 'freetext' },
];

/** Header matching ignores case, surrounding spaces and repeated inner spaces. */
export function normalizeHeader(name: string): string {
  return name.trim().replace(/\s+/g, ' ').toLowerCase();
}

const byHeader = new Map<string, ExportColumn>();
for (const column of EXPORT_COLUMNS) {
  for (const name of [column.header, ...column.aliases]) byHeader.set(normalizeHeader(name), column);
}

/** The export column a header cell names, or undefined for an unknown (extra) column. */
export function columnForHeader(name: string): ExportColumn | undefined {
  return byHeader.get(normalizeHeader(name));
}

/** Data objects end in .csv or .csv.gz, any case (spec, "Objects"). */
export function isDataObjectKey(key: string): boolean {
  return /\.csv(\.gz)?$/i.test(key);
}
