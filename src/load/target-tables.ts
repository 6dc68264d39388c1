// The five tables an export row is spread over (spec, "Rows and tables"): their keys, their
// columns, and which rows yield a row of each. Staging (staging.ts) and merging (merge.ts) are
// both built from these.
import { EXPORT_COLUMNS } from '../model/export.ts';

export interface TargetTable {
  readonly name: 'customers' | 'service_requests' | 'tasks' | 'parts_used' | 'sr_notes';
  readonly key: readonly string[];
  /** Conflict target: the key columns or a named constraint. */
  readonly conflict: string;
  readonly columns: readonly string[];
  /** A row yields a row of this table when these values are not NULL. */
  readonly requires: readonly string[];
}

export const TARGET_TABLES: readonly TargetTable[] = [
  {
    name: 'customers',
    key: ['account_number'],
    conflict: '(account_number)',
    columns: ['customer_name', 'site_city', 'site_state', 'site_postal_code', 'site_country'],
    requires: ['account_number'],
  },
  {
    name: 'service_requests',
    key: ['sr_number'],
    conflict: '(sr_number)',
    columns: ['sr_type', 'sr_status', 'severity', 'created_at', 'closed_at', 'problem_code', 'resolution_code', 'summary', 'account_number', 'product', 'serial_number'],
    requires: ['sr_number'],
  },
  {
    name: 'tasks',
    key: ['task_number'],
    conflict: '(task_number)',
    columns: ['sr_number', 'task_type', 'task_status', 'technician', 'scheduled_start', 'actual_end'],
    requires: ['task_number'],
  },
  {
    name: 'parts_used',
    key: ['task_number', 'part_number'],
    conflict: '(task_number, part_number)',
    columns: ['part_description', 'quantity'],
    requires: ['task_number', 'part_number'],
  },
  {
    name: 'sr_notes',
    key: ['sr_number', 'note_date', 'note_text'],
    conflict: 'ON CONSTRAINT sr_notes_key',
    columns: ['note_type'],
    requires: ['note_text'],
  },
];

/** A column's position in an export row's values (EXPORT_COLUMNS order). */
export function valueIndex(field: string): number {
  const index = EXPORT_COLUMNS.findIndex((column) => column.field === field);
  if (index === -1) throw new Error(`no export column ${field}`);
  return index;
}
