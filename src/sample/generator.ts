// # Sample exports and their oracle
//
// `generateExports` writes Toshiba service-request export objects the way spec/toshiba-export.md
// describes them (layout, variations, the ten known defects, at chosen rates) and, beside them, the
// exact result a correct load must give (`Expected`). `etl demo`, the tests and the benchmark use it.
//
// ## The model
// - A world of customers (accounts, some with leading zeros), a part catalogue and service requests
//   (SRs). An SR owns its tasks (each with 0..3 parts) and its notes. `rowsOf(sr)` turns the SR's
//   current state into rows: one row per (task, part), one per task without parts, one for an SR
//   without tasks; note i rides on row i, or on an extra row that has no task. SR and customer
//   columns repeat on every row; task/part/note columns are empty where the row has none.
// - Objects are generated in key order (`exports/2023/export_00001.csv`, ...) and `lastModified`
//   never decreases with the key; about one object in five has the same modification time as the
//   one before it, and then the greater key wins (spec). So "the latest object wins" is the same as
//   "the last row written wins", whatever order a loader takes the objects in.
// - Each data object holds mostly new SRs plus SRs seen in earlier objects whose status moved on
//   (Open -> In Progress -> Pending Parts -> Closed, tasks likewise, a new note each time, sometimes
//   a part's quantity or a note's type), so every table tests "latest wins". Some SRs come back a
//   second time inside the same object, moved on, and customers are sometimes renamed between two
//   SRs of one object: two rows of one key with different values in one object, the later wins.
// - Values are kept canonical (timestamps as 'YYYY-MM-DD HH:MM:SS', ids bare) and written in the
//   object's own form only when a row is rendered: one timestamp form per object, Account and Task
//   Numbers as Excel text escapes (`="0001234567"`, raw or quoted) in some objects, ids padded with
//   spaces in some objects, free text with quoted commas, doubled quotes and line breaks, quantities
//   from `0` to `999999999.99` with trailing zeros kept (`1.50`).
//
// ## Defects (rates are shares of data rows, `truncatedObjects` a share of objects)
// - unquotedFreeText: one free-text value with commas is written unquoted. Whether the row is
//   repaired or quarantined is decided by `decideUnquotedFreeText` (rule.ts), which implements the
//   spec's rule on the fields as a parser will see them; ~3/4 of these rows aim to be repairable,
//   the rest to be quarantined (two free-text columns fit, or none does because the row also carries
//   a bad value). A row is only kept when the rule's outcome does not hang on a detail the spec
//   leaves open, and when a repair lands on the column the commas really came from.
// - strayQuotes: a value with one `"` inside it (`LCD 15" TOUCH PANEL`) is written unquoted; loaded.
// - shortRows: a row with at least two trailing fields cut off; quarantined.
// - truncatedObjects: the object's last row is cut (fewer fields than the header, inside an open
//   quote, or inside its last field with the full field count); no final newline; that row is
//   quarantined as TRUNCATED_ROW. So is the last row of an object with the `noFinalNewline`
//   variation: the exporter ends every row with a line break, so a last row without one was cut.
// - duplicateRows: half are exact copies of a row later in the same object (at the end of the SR's
//   block, or right after it), half are rows of an unchanged SR from an earlier object. Only rows
//   without a bad value are copied, and a copy never changes an entity's winning values, so
//   "loaded once" and "latest wins" agree.
// - badValues: one id/timestamp/number value that does not fit its kind ('N/A', '12x', 'ABC'...);
//   never in SR Number. Stored NULL and counted as one value issue.
//
// ## The oracle (what a correct load gives, row by row)
// - `rows`: every row of the five tables with its key and business columns as Postgres stores them
//   (text exactly as written, ids trimmed and unwrapped, timestamps 'YYYY-MM-DD HH:MM:SS', numbers as
//   written, NULL for empty or bad values), after repair, quarantine and latest-wins. `rejects`: every
//   quarantined row (object, physical line, reason, raw text of the record without its line break).
//   `issues`: every recorded value (object, line, canonical column header, raw field).
// - A data row is a CSV record after the header; blank lines are not rows; a multi-line quoted
//   record is one row. rowsRead = rowsLoaded + rowsQuarantined for every object; a duplicate row
//   counts as read and loaded (it is not quarantined); a repaired row is loaded.
// - Tables follow "Rows and tables": customer when Account Number is set, SR when SR Number is set,
//   task when Task Number is set, part when Task and Part Number are set, note when Note Text is set.
//   A value that does not fit its kind is NULL. Keys compare NULL as equal to NULL (a note whose Note
//   Date is empty or bad has the key (sr_number, NULL, note_text)).
// - valueIssues counts bad values in loaded rows only (a quarantined row is kept whole, not typed).
// - A failed object (header without SR Number: MISSING_REQUIRED_COLUMNS) reads 0 rows and
//   contributes nothing; 0-byte and header-only objects load 0 rows. Non-data objects are skipped.
//
// ## Variations (`variations`, default true; per object, each at least once when there are enough
// objects): header aliases; header case and extra spaces; shuffled column order; extra columns
// (Region, Contract Type); a trailing comma on every line; UTF-8 BOM; Windows-1252 (such an object
// always has a Region column with 'Québec'/'Île-de-France', so it is never valid UTF-8); CRLF; gzip;
// blank lines; no final newline; an upper-case `.CSV` key; one 0-byte object, one header-only object,
// one object whose header lacks SR Number (these three need files >= 5); README.txt, an .xlsx and a
// folder marker, which are not data objects. Value-level forms (timestamp forms, Excel escapes,
// padded ids) are used with and without variations.
//
// ## Points the spec leaves open, and how the samples settle them (so the oracle never guesses)
// - "Latest wins" is per row, not per value: a winning row's empty or bad value is NULL in the target.
// - A repeated SR always has a new status, so with duplicateRows = 0 no row is repeated exactly.
// - Cross-object copies are the same values in the later object's own layout and forms (not the same
//   bytes), and only of SRs unchanged since, so skipping them or loading them again gives one result.
// - Line breaks inside quoted values are LF even in CRLF objects (Excel's Alt+Enter), so a text is the
//   same wherever it appears.
// - Each object writes every timestamp in its one form; bad timestamps are 'N/A', 'TBD', 'pending',
//   '00/00/0000', '0000-00-00 00:00:00' (the last has the ymd shape but no real date).
// - A stray quote is one `"` strictly inside an unquoted value without commas; quotes never open an
//   unquoted defect-1 value. A short row lacks at least two fields (never only a trailing empty one).
// - A truncated .csv.gz is a whole gzip stream of cut text (the cut is in the CSV, not in the gzip).
// - rule.ts judges each value 'yes'/'no'/'maybe'; 'maybe' (a timestamp in another form, '02134' or a
//   10-digit number in a number column, a non-ASCII letter in an id, surrounding spaces on a number)
//   never decides a defect-1 row and never appears in a loaded typed column.

import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { EXPORT_COLUMNS, type Kind } from '../model/export.ts';
import { Random } from './random.ts';
import { decideUnquotedFreeText, fitsKind } from './rule.ts';
import { canonicalTimestamp, formatTimestamp, TIMESTAMP_FORMS, type MonthCase, type TimestampForm } from './timestamp.ts';
import * as V from './values.ts';

export interface DefectRates {
  /** Defect 1: rows whose SR Summary / Part Description / Note Text has commas written without quotes. */
  unquotedFreeText: number;
  /** Defect 2: a `"` inside an unquoted field (loaded with the quote kept). */
  strayQuotes: number;
  /** Defect 3: fewer fields than the header (quarantined). */
  shortRows: number;
  /** Defect 4, share of objects: the object ends in the middle of its last row (that row quarantined). */
  truncatedObjects: number;
  /** Defect 5: exact duplicate rows within an object and across objects (loaded once). */
  duplicateRows: number;
  /** Values that do not fit their kind (stored NULL, recorded as a value issue). */
  badValues: number;
  /**
   * Defect 7, a damaged UTF-8 export: rows of UTF-8 objects with one stray byte (0xFF, or an 'é'
   * written as the Windows-1252 byte 0xE9) in place of a letter; quarantined as INVALID_ENCODING.
   * The object stays UTF-8: a row is only damaged while the object has more valid multi-byte
   * characters than stray bytes.
   */
  invalidBytes?: number;
}

export interface GenerateOptions {
  /** Deterministic output for a seed. */
  seed: number;
  /** Number of data objects. */
  files: number;
  /** Average data rows per object. */
  rowsPerFile: number;
  defects?: Partial<DefectRates>;
  /** File-level variations (default true). */
  variations?: boolean;
  /** Key prefix, default ''. */
  prefix?: string;
}

export type Encoding = 'utf-8' | 'windows-1252';

export interface GeneratedObject {
  key: string;
  body: Buffer;
  lastModified: Date;
  /** A data object (.csv / .csv.gz); false for README.txt, .xlsx and folder markers. */
  data: boolean;
  /** Text encoding of a data object (before gzip). */
  encoding?: Encoding;
  /** The variations and defects this object carries (for tests and the curious). */
  features: string[];
}

export interface ExpectedFile {
  key: string;
  status: 'loaded' | 'failed';
  errorClass?: string;
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  valueIssues: number;
}

export interface InjectedDefects {
  unquotedFreeText: number;
  unquotedRepaired: number;
  unquotedAmbiguous: number;
  unquotedNoColumnFits: number;
  strayQuotes: number;
  shortRows: number;
  truncatedObjects: number;
  duplicateRows: number;
  duplicateRowsWithinFile: number;
  duplicateRowsAcrossFiles: number;
  badValues: number;
  invalidBytes: number;
}

/**
 * The five tables as the spec defines them ("Rows and tables"): key and business columns. Written
 * here on their own so that the oracle does not follow a column dropped from the loader's merge.
 */
export const EXPECTED_TABLES = {
  customers: { key: ['account_number'], columns: ['customer_name', 'site_city', 'site_state', 'site_postal_code', 'site_country'] },
  service_requests: {
    key: ['sr_number'],
    columns: ['sr_type', 'sr_status', 'severity', 'created_at', 'closed_at', 'problem_code', 'resolution_code', 'summary', 'account_number', 'product', 'serial_number'],
  },
  tasks: { key: ['task_number'], columns: ['sr_number', 'task_type', 'task_status', 'technician', 'scheduled_start', 'actual_end'] },
  parts_used: { key: ['task_number', 'part_number'], columns: ['part_description', 'quantity'] },
  sr_notes: { key: ['sr_number', 'note_date', 'note_text'], columns: ['note_type'] },
} as const satisfies Record<string, { key: readonly string[]; columns: readonly string[] }>;

export type TableName = keyof typeof EXPECTED_TABLES;
export const TABLE_NAMES = Object.keys(EXPECTED_TABLES) as TableName[];

/** One expected row: key and business columns, as Postgres shows them as text (NULL is null). */
export type ExpectedRow = Record<string, string | null>;

/** Why the oracle quarantines a row (the reasons of the README that the generator produces). */
export type ExpectedRejectReason = 'SHORT_ROW' | 'TRUNCATED_ROW' | 'EXTRA_FIELDS_NO_FIT' | 'EXTRA_FIELDS_AMBIGUOUS' | 'INVALID_ENCODING';

export interface ExpectedReject {
  key: string;
  /** Physical line the record starts on (1-based; the header and blank lines count). */
  line: number;
  reason: ExpectedRejectReason;
  /** The record's text as written (decoded), without its line break. */
  raw: string;
  /** The record's bytes exactly as in the object (after gzip), without its line break. */
  rawBytes: Buffer;
}

export interface ExpectedValueIssue {
  key: string;
  line: number;
  /** Canonical header of the column (spec, "Columns"). */
  column: string;
  /** The field as a CSV parser returns it. */
  raw: string;
}

export interface Expected {
  tables: { customers: number; service_requests: number; tasks: number; parts_used: number; sr_notes: number };
  /** Every row of each table, ordered by key. */
  rows: Record<TableName, ExpectedRow[]>;
  /** Every quarantined row of the loaded objects, in object and line order. */
  rejects: ExpectedReject[];
  /** Every value stored as NULL because it did not fit its kind, in object and line order. */
  issues: ExpectedValueIssue[];
  /** One per data object, in key order. */
  files: ExpectedFile[];
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  valueIssues: number;
  /** sr_number -> final sr_status (latest object wins). */
  srStatus: Record<string, string | null>;
  /** task_number -> final task_status. */
  taskStatus: Record<string, string | null>;
  /** Keys of the objects a run lists as skipped (not data). */
  skipped: string[];
  /** What was injected, counted over the rows of loaded objects (and objects for truncation). */
  injected: InjectedDefects;
}

// ---------------------------------------------------------------------------------------------
// Columns

function columnIndex(field: string): number {
  const i = EXPORT_COLUMNS.findIndex((c) => c.field === field);
  if (i < 0) throw new Error(`sample generator: no export column ${field}`);
  return i;
}

const NCOL = EXPORT_COLUMNS.length;
const C = {
  sr: columnIndex('sr_number'),
  srType: columnIndex('sr_type'),
  srStatus: columnIndex('sr_status'),
  severity: columnIndex('severity'),
  created: columnIndex('created_at'),
  closed: columnIndex('closed_at'),
  problem: columnIndex('problem_code'),
  resolution: columnIndex('resolution_code'),
  summary: columnIndex('summary'),
  account: columnIndex('account_number'),
  customerName: columnIndex('customer_name'),
  city: columnIndex('site_city'),
  state: columnIndex('site_state'),
  postal: columnIndex('site_postal_code'),
  country: columnIndex('site_country'),
  product: columnIndex('product'),
  serial: columnIndex('serial_number'),
  task: columnIndex('task_number'),
  taskType: columnIndex('task_type'),
  taskStatus: columnIndex('task_status'),
  technician: columnIndex('technician'),
  start: columnIndex('scheduled_start'),
  end: columnIndex('actual_end'),
  part: columnIndex('part_number'),
  partDescription: columnIndex('part_description'),
  quantity: columnIndex('quantity'),
  noteType: columnIndex('note_type'),
  noteDate: columnIndex('note_date'),
  noteText: columnIndex('note_text'),
} as const;

const KIND: readonly Kind[] = EXPORT_COLUMNS.map((c) => c.kind);
const IS_TIMESTAMP: readonly boolean[] = KIND.map((k) => k === 'timestamp');
const FREE_TEXT_COLUMNS = [C.summary, C.partDescription, C.noteText];
/** Ids that some objects write as Excel text escapes. */
const EXCEL_COLUMNS: readonly number[] = [C.account, C.task];
/** SR and customer columns: the same on every row of an SR. */
const SR_COLUMNS = [
  C.sr, C.srType, C.srStatus, C.severity, C.created, C.closed, C.problem, C.resolution, C.summary, C.account, C.customerName,
  C.city, C.state, C.postal, C.country, C.product, C.serial,
];
const IS_SR_COLUMN: readonly boolean[] = KIND.map((_, i) => SR_COLUMNS.includes(i));
const TEXT_COLUMNS = KIND.map((k, i) => (k === 'text' || k === 'freetext' ? i : -1)).filter((i) => i >= 0);
/** Columns that may receive a bad value: every id/timestamp/number column except SR Number. */
const BAD_COLUMNS = KIND.map((k, i) => (k === 'text' || k === 'freetext' || i === C.sr ? -1 : i)).filter((i) => i >= 0);

const BAD_VALUES: Record<Kind, readonly string[]> = {
  digits: ['ABC', 'N/A', '#N/A', 'TBD', '12-34'],
  alnum: ['N/A', '#N/A', '??', 'SEE NOTE'],
  timestamp: ['N/A', 'TBD', 'pending', '00/00/0000', '0000-00-00 00:00:00'],
  number: ['12x', 'N/A', 'two', '-', '1,5'],
  text: [],
  freetext: [],
};
for (const [kind, values] of Object.entries(BAD_VALUES)) {
  for (const value of values) {
    for (const form of TIMESTAMP_FORMS) {
      if (fitsKind(kind as Kind, value, form) !== 'no') throw new Error(`sample generator: bad value ${value} fits ${kind}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The world: customers, parts, SRs

interface Customer {
  account: string;
  name: string;
  site: readonly [string, string, string, string];
}
interface Part {
  number: string;
  description: string;
}
interface PartUse {
  part: Part;
  quantity: string;
}
interface Task {
  number: string;
  type: string;
  stage: number;
  technician: string;
  startAt: number;
  start: string;
  end: string;
  parts: PartUse[];
}
interface Note {
  type: string;
  date: string;
  text: string;
}
interface Sr {
  number: string;
  type: string;
  stage: number;
  severity: string;
  createdAt: number;
  created: string;
  closed: string;
  problem: string;
  resolution: string;
  summary: string;
  customer: Customer;
  product: string;
  serial: string;
  tasks: Task[];
  notes: Note[];
  nextNoteAt: number;
  hasUndatedNote: boolean;
  /** Index of the object that last carried the SR (-1: none yet). */
  lastFile: number;
  /** Its rows in that object carried no bad value. */
  lastClean: boolean;
}

const HOUR = 3600;
const DAY = 86400;
const EPOCH_2023 = Date.UTC(2023, 0, 1) / 1000;

function fill(template: string, rng: Random): string {
  return template
    .replace('{n}', () => String(rng.range(2, 999)))
    .replace('{d}', () => String(rng.range(2, 9)))
    .replace('{tech}', () => rng.pick(V.TECHNICIANS))
    .replace('{list}', () => {
      const count = rng.chance(0.1) ? rng.range(10, 55) : rng.range(2, 5);
      const items: string[] = [];
      for (let i = 1; i <= count; i++) items.push(String(i));
      return items.join(', ');
    });
}

class World {
  readonly rng: Random;
  private readonly customers: Customer[] = [];
  private readonly parts: Part[] = [];
  private srSeq = 0;
  private taskSeq = 0;
  private readonly srBase: number;
  private readonly taskBase: number;
  private readonly pool: Sr[] = [];
  private readonly poolCap: number;

  constructor(rng: Random, totalRows: number, rowsPerFile: number) {
    this.rng = rng;
    this.srBase = rng.int(5_000_000);
    this.taskBase = rng.int(5_000_000);
    const customerCount = Math.max(20, Math.min(50_000, Math.round(totalRows / 25)));
    const accountBase = rng.int(1_000_000);
    for (let i = 0; i < customerCount; i++) {
      const n = accountBase + i * 13 + rng.int(13); // < 2_000_000: 30% get three leading zeros
      const account = rng.chance(0.3) ? String(1_000_000 + n).padStart(10, '0') : String(1_000_000_000 + n * 7);
      const name = rng.chance(0.6) ? `${rng.pick(V.CUSTOMER_NAMES)} #${rng.range(100, 9999)}` : rng.pick(V.CUSTOMER_NAMES);
      this.customers.push({ account, name, site: rng.pick(V.SITES) });
    }
    const seen = new Set<string>();
    while (this.parts.length < 400) {
      const kind = rng.int(5);
      const number =
        kind === 0 ? `FRU${rng.digits(5)}` : kind === 1 ? `3AC0${rng.digits(7)}` : kind === 2 ? `54Y${rng.digits(4)}` : kind === 3 ? `TG${rng.digits(6)}` : `41K${rng.digits(4)}A`;
      if (seen.has(number)) continue;
      seen.add(number);
      this.parts.push({ number, description: rng.pick(V.PART_DESCRIPTIONS) });
    }
    this.poolCap = Math.max(100, Math.min(5000, rowsPerFile));
  }

  private srNumber(): string {
    const n = this.srBase + this.srSeq++ * 7 + this.rng.int(7);
    const length = this.rng.int(3);
    return String((length === 0 ? 10_000_000 : length === 1 ? 300_000_000 : 2_000_000_000) + n);
  }

  private taskNumber(): string {
    return String(70_000_000 + this.taskBase + this.taskSeq++ * 3 + this.rng.int(3));
  }

  private newTask(sr: Sr): Task {
    const rng = this.rng;
    const task: Task = {
      number: this.taskNumber(),
      type: rng.pick(V.TASK_TYPES),
      stage: sr.stage >= 3 ? 3 : Math.min(sr.stage, 2),
      technician: rng.pick(V.TECHNICIANS),
      startAt: 0,
      start: '',
      end: '',
      parts: [],
    };
    task.startAt = sr.createdAt + rng.range(1, 72) * HOUR + rng.int(60) * 60;
    task.start = canonicalTimestamp(task.startAt);
    const partCount = rng.pick([0, 0, 1, 1, 1, 2, 3]);
    for (let i = 0; i < partCount; i++) this.addPart(task);
    if (task.stage === 3) task.end = canonicalTimestamp(task.startAt + rng.range(1, 48) * HOUR);
    return task;
  }

  private addPart(task: Task): void {
    for (let attempt = 0; attempt < 5; attempt++) {
      const part = this.rng.pick(this.parts);
      if (task.parts.some((use) => use.part === part)) continue;
      task.parts.push({ part, quantity: this.rng.pick(V.QUANTITIES) });
      return;
    }
  }

  private addNote(sr: Sr): void {
    const rng = this.rng;
    let date = '';
    if (!sr.hasUndatedNote && rng.chance(0.04)) sr.hasUndatedNote = true;
    else {
      sr.nextNoteAt += rng.range(10, 2880) * 60 + rng.int(60);
      date = canonicalTimestamp(sr.nextNoteAt);
    }
    let text = fill(rng.pick(V.NOTES), rng);
    if (rng.chance(0.7)) text += `. ${rng.pick(V.FOLLOW_UPS)}`;
    sr.notes.push({ type: rng.pick(V.NOTE_TYPES), date, text });
  }

  private close(sr: Sr): void {
    sr.closed = canonicalTimestamp(sr.createdAt + rng2days(this.rng));
    sr.resolution = this.rng.pick(V.RESOLUTION_CODES);
  }

  /** A new SR; `pooled` SRs may come back in later objects. */
  newSr(pooled: boolean): Sr {
    const rng = this.rng;
    const createdAt = EPOCH_2023 + rng.int(540) * DAY + rng.int(DAY);
    const sr: Sr = {
      number: this.srNumber(),
      type: rng.pick(V.SR_TYPES),
      stage: rng.chance(0.15) ? 3 : rng.chance(0.8) ? 0 : 1,
      severity: rng.pick(V.SEVERITIES),
      createdAt,
      created: canonicalTimestamp(createdAt),
      closed: '',
      problem: rng.pick(V.PROBLEM_CODES),
      resolution: '',
      summary: fill(rng.pick(V.SUMMARIES), rng) + (rng.chance(0.6) ? ` – store ${rng.range(100, 9999)}, reported by ${rng.pick(V.REPORTERS)}` : ''),
      customer: rng.pick(this.customers),
      product: rng.pick(V.PRODUCTS),
      serial: `${rng.pick(['41A', '4900', 'TC', '23B'])}${rng.digits(7)}`,
      tasks: [],
      notes: [],
      nextNoteAt: createdAt,
      hasUndatedNote: false,
      lastFile: -1,
      lastClean: false,
    };
    if (sr.stage === 3) this.close(sr);
    const taskCount = rng.pick([0, 1, 1, 1, 2, 2, 3]);
    for (let i = 0; i < taskCount; i++) sr.tasks.push(this.newTask(sr));
    const noteCount = rng.pick([0, 1, 1, 2, 2, 3]);
    for (let i = 0; i < noteCount; i++) this.addNote(sr);
    if (pooled) {
      this.pool.push(sr);
      if (this.pool.length > 2 * this.poolCap) this.pool.splice(0, this.pool.length - this.poolCap);
    }
    return sr;
  }

  /** Moves an SR on: status, tasks, a new note, sometimes a new task or part. */
  advance(sr: Sr): void {
    const rng = this.rng;
    sr.stage = Math.min(3, sr.stage + (rng.chance(0.3) ? 2 : 1));
    if (sr.stage === 3) this.close(sr);
    for (const task of sr.tasks) {
      task.stage = sr.stage === 3 ? 3 : Math.min(3, task.stage + 1);
      if (task.stage === 3 && task.end === '') task.end = canonicalTimestamp(task.startAt + rng.range(1, 48) * HOUR);
    }
    if (sr.stage < 3 && rng.chance(0.3)) sr.tasks.push(this.newTask(sr));
    const task = sr.tasks.length > 0 ? rng.pick(sr.tasks) : undefined;
    if (task && rng.chance(0.3)) this.addPart(task);
    // Values that change without a status: a part's quantity, a note's type (same keys, new values).
    if (task && task.parts.length > 0 && rng.chance(0.2)) rng.pick(task.parts).quantity = rng.pick(V.QUANTITIES);
    if (sr.notes.length > 0 && rng.chance(0.15)) rng.pick(sr.notes).type = rng.pick(V.NOTE_TYPES);
    this.addNote(sr);
  }

  /** Sometimes renames the SR's customer: every later row of that customer carries the new name. */
  maybeRename(sr: Sr): void {
    if (!this.rng.chance(0.01)) return;
    sr.customer.name = `${this.rng.pick(V.CUSTOMER_NAMES)} #${this.rng.range(100, 9999)}`;
  }

  /** An SR from an earlier object that is not closed yet (to repeat with changes). */
  pickOpen(fileIndex: number): Sr | undefined {
    for (let attempt = 0; attempt < 6 && this.pool.length > 0; attempt++) {
      const sr = this.rng.pick(this.pool);
      if (sr.stage < 3 && sr.lastFile >= 0 && sr.lastFile !== fileIndex) return sr;
    }
    return undefined;
  }

  /** An SR from an earlier object whose rows there were clean (to repeat one row unchanged). */
  pickUnchanged(fileIndex: number): Sr | undefined {
    for (let attempt = 0; attempt < 6 && this.pool.length > 0; attempt++) {
      const sr = this.rng.pick(this.pool);
      if (sr.lastClean && sr.lastFile >= 0 && sr.lastFile !== fileIndex) return sr;
    }
    return undefined;
  }
}

function rng2days(rng: Random): number {
  return rng.range(2, 20 * 24) * HOUR + rng.int(HOUR);
}

/** The rows of an SR's current state (29 canonical values each). Pure: same state, same rows. */
function rowsOf(sr: Sr): string[][] {
  const base: string[] = new Array<string>(NCOL).fill('');
  base[C.sr] = sr.number;
  base[C.srType] = sr.type;
  base[C.srStatus] = V.SR_STATUSES[sr.stage] ?? '';
  base[C.severity] = sr.severity;
  base[C.created] = sr.created;
  base[C.closed] = sr.closed;
  base[C.problem] = sr.problem;
  base[C.resolution] = sr.resolution;
  base[C.summary] = sr.summary;
  base[C.account] = sr.customer.account;
  base[C.customerName] = sr.customer.name;
  [base[C.city], base[C.state], base[C.postal], base[C.country]] = sr.customer.site;
  base[C.product] = sr.product;
  base[C.serial] = sr.serial;
  const rows: string[][] = [];
  for (const task of sr.tasks) {
    const taskRow = base.slice();
    taskRow[C.task] = task.number;
    taskRow[C.taskType] = task.type;
    taskRow[C.taskStatus] = V.TASK_STATUSES[task.stage] ?? '';
    taskRow[C.technician] = task.technician;
    taskRow[C.start] = task.start;
    taskRow[C.end] = task.end;
    if (task.parts.length === 0) rows.push(taskRow);
    for (const use of task.parts) {
      const row = taskRow.slice();
      row[C.part] = use.part.number;
      row[C.partDescription] = use.part.description;
      row[C.quantity] = use.quantity;
      rows.push(row);
    }
  }
  if (rows.length === 0) rows.push(base.slice());
  sr.notes.forEach((note, i) => {
    let row = rows[i];
    if (!row) {
      row = base.slice();
      rows.push(row);
    }
    row[C.noteType] = note.type;
    row[C.noteDate] = note.date;
    row[C.noteText] = note.text;
  });
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Object shape (layout and variations)

type Extra = 'Region' | 'Contract Type' | 'trailing';
interface LayoutColumn {
  /** Canonical column index, or -1 for an extra column. */
  col: number;
  header: string;
  extra?: Extra;
}

type AccountStyle = 'plain' | 'excel-raw' | 'excel-quoted';

interface Shape {
  layout: LayoutColumn[];
  kinds: (Kind | null)[];
  /** Canonical column -> position in the object's header (-1: absent). */
  posOf: number[];
  form: TimestampForm;
  monthCase: MonthCase;
  /** How Account and Task Numbers are written: bare, or as Excel text escapes (raw or quoted). */
  accountStyle: AccountStyle;
  padIds: boolean;
  cp1252: boolean;
  /** Positions of the ids written as raw (unquoted) Excel escapes. */
  excelAt: ReadonlySet<number>;
  /** Canonical timestamp -> as written in this object. */
  timestamps: Map<string, string>;
}

const FILE_FEATURES = [
  'aliases', 'headerCase', 'shuffled', 'extraColumns', 'trailingComma', 'bom', 'cp1252', 'crlf', 'gzip',
  'blankLines', 'noFinalNewline', 'upperCaseExt',
] as const;
type FileFeature = (typeof FILE_FEATURES)[number];
const FEATURE_SHARE: Record<FileFeature, number> = {
  aliases: 0.35, headerCase: 0.3, shuffled: 0.35, extraColumns: 0.3, trailingComma: 0.2, bom: 0.2, cp1252: 0.2,
  crlf: 0.3, gzip: 0.15, blankLines: 0.3, noFinalNewline: 0.1, upperCaseExt: 0,
};

function headerText(col: number, features: ReadonlySet<string>, rng: Random): string {
  const column = EXPORT_COLUMNS[col];
  if (!column) throw new Error(`sample generator: no column ${col}`);
  let name = features.has('aliases') && column.aliases.length > 0 && rng.chance(0.6) ? rng.pick(column.aliases) : column.header;
  if (features.has('headerCase')) {
    const style = rng.int(4);
    if (style === 1) name = name.toLowerCase();
    else if (style === 2) name = name.toUpperCase();
    if (rng.chance(0.3)) name = name.replace(' ', '  ');
    if (rng.chance(0.3)) name = ` ${name} `;
  }
  return name;
}

function makeShape(features: ReadonlySet<string>, rng: Random, dropSr: boolean): Shape {
  let layout: LayoutColumn[] = EXPORT_COLUMNS.map((_, col) => ({ col, header: headerText(col, features, rng) }));
  if (dropSr) layout = layout.filter((c) => c.col !== C.sr);
  if (features.has('shuffled')) rng.shuffle(layout);
  if (features.has('extraColumns') || features.has('cp1252')) {
    const extras: Extra[] = features.has('cp1252') ? ['Region'] : [];
    if (!features.has('cp1252') || rng.chance(0.5)) {
      if (rng.chance(0.5)) extras.push('Contract Type');
      if (extras.length === 0 || rng.chance(0.3)) extras.push(extras.includes('Contract Type') ? 'Region' : 'Contract Type');
    }
    for (const extra of extras) {
      layout.splice(rng.int(layout.length + 1), 0, { col: -1, header: features.has('headerCase') && rng.chance(0.5) ? extra.toUpperCase() : extra, extra });
    }
  }
  if (features.has('trailingComma')) layout.push({ col: -1, header: '', extra: 'trailing' });
  const posOf = new Array<number>(NCOL).fill(-1);
  layout.forEach((c, i) => {
    if (c.col >= 0) posOf[c.col] = i;
  });
  const accountStyle = rng.pick<AccountStyle>(['plain', 'plain', 'excel-raw', 'excel-quoted']);
  return {
    layout,
    kinds: layout.map((c) => (c.col >= 0 ? (KIND[c.col] ?? null) : null)),
    posOf,
    form: rng.pick(TIMESTAMP_FORMS),
    monthCase: rng.pick<MonthCase>(['upper', 'upper', 'title', 'lower']),
    accountStyle,
    padIds: rng.chance(0.25),
    cp1252: features.has('cp1252'),
    excelAt: new Set(accountStyle === 'excel-raw' ? EXCEL_COLUMNS.map((col) => posOf[col] ?? -1).filter((p) => p >= 0) : []),
    timestamps: new Map(),
  };
}

function needsQuotes(cell: string): boolean {
  for (let i = 0; i < cell.length; i++) {
    const c = cell.charCodeAt(i);
    if (c === 44 || c === 34 || c === 10 || c === 13) return true;
  }
  return false;
}

function quote(cell: string): string {
  return `"${cell.replaceAll('"', '""')}"`;
}

interface BadCell {
  col: number;
  raw: string;
}

const CP1252_REGIONS = ['Québec', 'Île-de-France'];

/** The value of an extra (unknown) column. */
function extraCell(column: LayoutColumn, shape: Shape, rng: Random): string {
  if (column.extra === 'Region') return shape.cp1252 ? rng.pick(CP1252_REGIONS) : rng.pick(V.REGIONS);
  if (column.extra === 'Contract Type') return rng.pick(V.CONTRACT_TYPES);
  return '';
}

/** A canonical value as the object writes it (before CSV quoting). */
function cellText(col: number, value: string, shape: Shape, rng: Random): string {
  if (value === '') return value;
  if (IS_TIMESTAMP[col]) {
    let text = shape.timestamps.get(value);
    if (text === undefined) {
      text = formatTimestamp(value, shape.form, shape.monthCase);
      shape.timestamps.set(value, text);
    }
    return text;
  }
  if (EXCEL_COLUMNS.includes(col) && shape.accountStyle !== 'plain') return `="${value}"`;
  if (shape.padIds && (col === C.task || col === C.serial) && rng.chance(0.3)) return rng.chance(0.5) ? `  ${value}` : `${value} `;
  return value;
}

/** The fields of a row in the object's layout, as a CSV parser returns them. */
function renderCells(row: readonly string[], bad: BadCell | null, shape: Shape, rng: Random): string[] {
  const cells = new Array<string>(shape.layout.length);
  for (let p = 0; p < shape.layout.length; p++) {
    const column = shape.layout[p] as LayoutColumn;
    const col = column.col;
    cells[p] = col < 0 ? extraCell(column, shape, rng) : bad !== null && bad.col === col ? bad.raw : cellText(col, row[col] ?? '', shape, rng);
  }
  return cells;
}

/** One CSV line; the field at `rawAt` (a defect) is written without quotes. */
function serialize(cells: readonly string[], shape: Shape, rawAt = -1, count = cells.length): string {
  const out = new Array<string>(count);
  for (let p = 0; p < count; p++) {
    const cell = cells[p] as string;
    out[p] = p === rawAt || (shape.excelAt.has(p) && cell.startsWith('="')) || !needsQuotes(cell) ? cell : quote(cell);
  }
  return out.join(',');
}

/** A field as written in the line (quoted when it must be). */
function written(p: number, cell: string, shape: Shape): string {
  return (shape.excelAt.has(p) && cell.startsWith('="')) || !needsQuotes(cell) ? cell : quote(cell);
}

/**
 * The line of a row without a defect: the same as serialize(renderCells(...)), faster. The SR and
 * customer fields are the same on every row of an SR's block, so `block` keeps them by position.
 */
function renderLine(row: readonly string[], bad: BadCell | null, shape: Shape, rng: Random, block: (string | undefined)[]): string {
  const n = shape.layout.length;
  const out = new Array<string>(n);
  for (let p = 0; p < n; p++) {
    const column = shape.layout[p] as LayoutColumn;
    const col = column.col;
    if (col < 0) out[p] = written(p, extraCell(column, shape, rng), shape);
    else if (bad !== null && bad.col === col) out[p] = written(p, bad.raw, shape);
    else if (IS_SR_COLUMN[col]) {
      let cell = block[p];
      if (cell === undefined) {
        cell = written(p, cellText(col, row[col] ?? '', shape, rng), shape);
        block[p] = cell;
      }
      out[p] = cell;
    } else out[p] = written(p, cellText(col, row[col] ?? '', shape, rng), shape);
  }
  return out.join(',');
}

/** A free-text value that can be written unquoted and split by its commas. */
function unquotable(value: string): boolean {
  return value.includes(',') && !value.includes('"') && !value.includes('\n') && !value.includes('\r');
}

/** A value whose only reason to be quoted is one `"` in its middle. */
function strayQuotable(value: string): boolean {
  const q = value.indexOf('"');
  return (
    q > 0 && q < value.length - 1 && value.indexOf('"', q + 1) < 0 && !value.includes(',') && !value.includes('\n') && !value.includes('\r')
  );
}

/**
 * Cuts a line the way an interrupted export does: so that a parser sees fewer fields than the
 * header, an open quote at the end of the object, or a last field cut short with the full field
 * count (`...,printer ja`). Quotes only open a field at its start, as a lenient parser reads stray
 * quotes. Never right after a line break inside a quoted value: the object would end with one.
 */
function truncateLine(line: string, headerFields: number, rng: Random): string {
  const short: number[] = [];
  const open: number[] = [];
  const full: number[] = [];
  let fields = 1;
  let state: 'start' | 'plain' | 'quoted' | 'quote' = 'start';
  let content = false;
  for (let i = 0; i < line.length - 1; i++) {
    const ch = line[i];
    if (ch !== ' ') content = true;
    if (state === 'start') {
      if (ch === '"') state = 'quoted';
      else if (ch === ',') fields++;
      else state = 'plain';
    } else if (state === 'plain') {
      if (ch === ',') {
        fields++;
        state = 'start';
      }
    } else if (state === 'quoted') {
      if (ch === '"') state = 'quote';
    } else if (ch === '"') state = 'quoted';
    else if (ch === ',') {
      fields++;
      state = 'start';
    } else state = 'plain';
    if (!content || ch === '\n') continue;
    if (state === 'quoted' && ch !== '"') open.push(i + 1);
    else if (state === 'start' || state === 'plain') (fields < headerFields ? short : full).push(i + 1);
  }
  const kinds = [open, short, full].filter((cuts) => cuts.length > 0);
  if (kinds.length === 0) throw new Error('sample generator: no place to truncate the last row');
  return line.slice(0, rng.pick(rng.pick(kinds)));
}

// ---------------------------------------------------------------------------------------------
// Records and the oracle

interface Rec {
  line: string;
  load: boolean;
  row: readonly string[] | null;
  bad: BadCell | null;
  /** Why a record that does not load is quarantined. */
  reason?: ExpectedRejectReason;
}

const TABLE_FIELDS = TABLE_NAMES.map((name) => {
  const { key, columns } = EXPECTED_TABLES[name];
  return { name, key: key.map(columnIndex), all: [...key, ...columns].map(columnIndex), names: [...key, ...columns] as string[] };
});

/** Which rows a loaded export row yields (spec, "Rows and tables"). */
function yields(table: TableName, value: (col: number) => string | null): boolean {
  switch (table) {
    case 'customers':
      return value(C.account) !== null;
    case 'service_requests':
      return value(C.sr) !== null;
    case 'tasks':
      return value(C.task) !== null;
    case 'parts_used':
      return value(C.task) !== null && value(C.part) !== null;
    case 'sr_notes':
      return value(C.noteText) !== null;
  }
}

class Oracle {
  /** Per table: key (JSON of the key values) -> the winning row's values (key and business columns). */
  readonly tables = new Map<TableName, Map<string, (string | null)[]>>(TABLE_NAMES.map((name) => [name, new Map()]));
  readonly rejects: ExpectedReject[] = [];
  readonly issues: ExpectedValueIssue[] = [];

  /**
   * A loaded row, in load order: the later row wins. Values are canonical (timestamps as stored, ids
   * bare); an empty value or the bad one is NULL.
   */
  apply(row: readonly string[], bad: BadCell | null): void {
    const value = (col: number): string | null => (bad !== null && bad.col === col ? null : row[col] || null);
    for (const table of TABLE_FIELDS) {
      if (!yields(table.name, value)) continue;
      this.tables.get(table.name)!.set(JSON.stringify(table.key.map(value)), table.all.map(value));
    }
  }

  rows(): Record<TableName, ExpectedRow[]> {
    const out = {} as Record<TableName, ExpectedRow[]>;
    for (const table of TABLE_FIELDS) {
      const rows = [...this.tables.get(table.name)!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      out[table.name] = rows.map(([, values]) => Object.fromEntries(table.names.map((name, i) => [name, values[i] ?? null])));
    }
    return out;
  }
}

interface Rates extends DefectRates {
  readonly invalidBytes: number;
  /** Probability that an original row gets a copy within the object, and owes one across objects. */
  readonly dupEach: number;
  /** Original rows are 1 - duplicateRows of all rows: row rates are scaled by 1 / that. */
  readonly rowScale: number;
}

function emptyInjected(): InjectedDefects {
  return {
    unquotedFreeText: 0, unquotedRepaired: 0, unquotedAmbiguous: 0, unquotedNoColumnFits: 0, strayQuotes: 0, shortRows: 0,
    truncatedObjects: 0, duplicateRows: 0, duplicateRowsWithinFile: 0, duplicateRowsAcrossFiles: 0, badValues: 0, invalidBytes: 0,
  };
}

/**
 * Defects owed: a Bernoulli draw adds one, the next row that can carry the defect takes it, so a rate
 * holds even when few rows qualify.
 */
type Debt = Record<'unquoted' | 'stray' | 'bad' | 'within' | 'across', number>;

/** Renders the rows of one object, deciding its row defects. */
class FileWriter {
  /** The object's lines so far (header and blank lines included); an entry may hold line breaks. */
  readonly lines: string[] = [];
  /** Physical line number of the next entry. */
  private nextLine = 1;
  /** Valid multi-byte characters written so far, and stray bytes: a damaged object must stay UTF-8. */
  private multiByte = 0;
  strayBytes = 0;
  /** Records written, the one held back included. */
  count = 0;
  /** The last record is held back: it may still be truncated. */
  private pending: Rec | null = null;
  private readonly oracle: Oracle | null;
  private readonly expected: ExpectedFile;
  private readonly blankEvery: number;
  private readonly world: World;
  private readonly rng: Random;
  private readonly shape: Shape;
  private readonly rates: Rates;
  private readonly debt: Debt;
  private readonly injected: InjectedDefects;
  private readonly fileIndex: number;

  constructor(
    world: World, shape: Shape, rates: Rates, debt: Debt, injected: InjectedDefects, fileIndex: number,
    oracle: Oracle | null, expected: ExpectedFile, blankEvery: number,
  ) {
    this.oracle = oracle;
    this.expected = expected;
    this.blankEvery = blankEvery;
    this.world = world;
    this.rng = world.rng;
    this.shape = shape;
    this.rates = rates;
    this.debt = debt;
    this.injected = injected;
    this.fileIndex = fileIndex;
  }

  private push(rec: Rec): void {
    if (this.pending) this.write(this.pending);
    this.pending = rec;
    this.count++;
  }

  /** Adds an entry (the header, a blank line, a record); returns the physical line it starts on. */
  addLine(text: string): number {
    const at = this.nextLine;
    this.lines.push(text);
    this.nextLine += 1;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f && !STRAY_BYTES.includes(text[i]!)) this.multiByte++;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.nextLine++;
    return at;
  }

  /** Writes the line and, unless the object fails, loads or quarantines the row in the oracle. */
  private write(rec: Rec): void {
    if (this.blankEvery > 0 && this.rng.int(this.blankEvery) === 0) this.addLine('');
    if (rec.load && !this.shape.cp1252 && this.rates.invalidBytes > 0 && this.rng.chance(this.rates.invalidBytes)) rec = this.damaged(rec);
    const line = this.addLine(rec.line);
    if (!this.oracle) return;
    const key = this.expected.key;
    this.expected.rowsRead++;
    if (rec.load && rec.row) {
      this.expected.rowsLoaded++;
      if (rec.bad) {
        this.expected.valueIssues++;
        this.oracle.issues.push({ key, line, column: EXPORT_COLUMNS[rec.bad.col]!.header, raw: rec.bad.raw });
      }
      this.oracle.apply(rec.row, rec.bad);
    } else {
      this.expected.rowsQuarantined++;
      if (!rec.reason) throw new Error('sample generator: a quarantined record without a reason');
      // A stray byte reads as U+FFFD in the quarantined row's text (its exact bytes are kept apart).
      this.oracle.rejects.push({ key, line, reason: rec.reason, raw: rec.line.replace(STRAY_PATTERN, '\uFFFD'), rawBytes: encodeText(rec.line, this.shape.cp1252) });
    }
  }

  /** The row with one letter written as a stray byte (defect 7), while the object stays mostly UTF-8. */
  private damaged(rec: Rec): Rec {
    const letters: number[] = [];
    for (let i = 0; i < rec.line.length; i++) if (/[A-Za-z]/.test(rec.line[i]!)) letters.push(i);
    if (letters.length === 0 || this.strayBytes + 1 >= this.multiByte) return rec;
    const at = this.rng.pick(letters);
    this.strayBytes++;
    this.injected.invalidBytes++;
    const line = rec.line.slice(0, at) + this.rng.pick(STRAY_BYTES) + rec.line.slice(at + 1);
    return { ...rec, line, load: false, reason: 'INVALID_ENCODING' };
  }

  /**
   * Writes the held-back record. A truncated object's last record is cut first; the last record of
   * an object without a final line break is quarantined whole (the exporter ends every row with one,
   * so the row was cut). Returns whether the record was cut.
   */
  finish(truncate: boolean, noFinalNewline: boolean): boolean {
    const last = this.pending;
    if (!last) return false;
    this.pending = null;
    if (truncate) {
      this.write({ line: truncateLine(last.line, this.shape.layout.length, this.rng), load: false, row: null, bad: null, reason: 'TRUNCATED_ROW' });
    } else if (noFinalNewline) this.write({ ...last, load: false, reason: 'TRUNCATED_ROW' });
    else this.write(last);
    return truncate;
  }

  private want(kind: keyof Debt, p: number): boolean {
    if (this.rng.chance(p)) this.debt[kind]++;
    return this.debt[kind] > 0;
  }

  /** Clean rows only (the object without SR Number). */
  plain(sr: Sr): void {
    const block: (string | undefined)[] = [];
    for (const row of rowsOf(sr)) this.push({ line: renderLine(row, null, this.shape, this.rng, block), load: true, row, bad: null });
  }

  /** One SR's rows, with defects; returns how many original (non-copy) rows were written. */
  emit(sr: Sr): number {
    const rng = this.rng;
    const rows = rowsOf(sr);
    const recs: Rec[] = [];
    const special: boolean[] = [];
    const block: (string | undefined)[] = [];
    const scale = this.rates.rowScale;
    for (const row of rows) {
      // Every original row draws for every defect (the draws become debts); rates are shares of all
      // data rows, copies included, hence the scale.
      this.want('unquoted', this.rates.unquotedFreeText * scale);
      this.want('stray', this.rates.strayQuotes * scale);
      this.want('bad', this.rates.badValues * scale);
      let rec: Rec | undefined;
      if (rng.chance(this.rates.shortRows * scale)) {
        const cells = renderCells(row, null, this.shape, rng);
        const keep = rng.range(Math.max(2, Math.floor(cells.length / 3)), cells.length - 2);
        rec = { line: serialize(cells, this.shape, -1, keep), load: false, row, bad: null, reason: 'SHORT_ROW' };
        this.injected.shortRows++;
      } else if (this.debt.unquoted > 0) {
        rec = this.unquoted(row);
        if (rec) this.debt.unquoted--;
      }
      let isSpecial = rec !== undefined;
      if (!rec) {
        let bad: BadCell | null = null;
        if (this.debt.bad > 0) {
          bad = this.badCell(row);
          if (bad) {
            this.debt.bad--;
            this.injected.badValues++;
          }
        }
        let rawAt = -1;
        if (this.debt.stray > 0) {
          // Text values are written as they are, so the canonical row tells which can carry a stray quote.
          const candidates = TEXT_COLUMNS.filter((col) => (this.shape.posOf[col] as number) >= 0 && strayQuotable(row[col] ?? ''));
          if (candidates.length > 0) {
            rawAt = this.shape.posOf[rng.pick(candidates)] as number;
            this.debt.stray--;
            this.injected.strayQuotes++;
          }
        }
        const line = rawAt >= 0 ? serialize(renderCells(row, bad, this.shape, rng), this.shape, rawAt) : renderLine(row, bad, this.shape, rng, block);
        rec = { line, load: true, row, bad };
        isSpecial = bad !== null || rawAt >= 0;
      }
      recs.push(rec);
      special.push(isSpecial);
    }
    // Exact copies within the object: at the end of the SR's block when no later row of the block
    // carries a bad value (which a copy would overwrite), else right after the row.
    const out: Rec[] = [];
    const tail: Rec[] = [];
    recs.forEach((rec, i) => {
      out.push(rec);
      if (!this.want('within', this.rates.dupEach) || special[i] || !rec.load) return;
      this.debt.within--;
      this.injected.duplicateRows++;
      this.injected.duplicateRowsWithinFile++;
      if (recs.slice(i + 1).some((later) => later.bad !== null)) out.push(rec);
      else tail.push(rec);
    });
    for (const rec of out) this.push(rec);
    for (const rec of tail) this.push(rec);
    sr.lastFile = this.fileIndex;
    sr.lastClean = recs.every((rec) => rec.bad === null);
    return rows.length;
  }

  /** Rows copied unchanged from SRs of earlier objects, as many as owed. */
  copiesAcross(originalRows: number): void {
    for (let i = 0; i < originalRows; i++) if (this.rng.chance(this.rates.dupEach)) this.debt.across++;
    while (this.debt.across > 0) {
      const sr = this.world.pickUnchanged(this.fileIndex);
      if (!sr) return;
      const row = this.rng.pick(rowsOf(sr));
      this.push({ line: renderLine(row, null, this.shape, this.rng, []), load: true, row, bad: null });
      this.debt.across--;
      this.injected.duplicateRows++;
      this.injected.duplicateRowsAcrossFiles++;
    }
  }

  private badCell(row: readonly string[]): BadCell | null {
    const candidates = BAD_COLUMNS.filter((col) => row[col] !== '' && this.shape.posOf[col] !== undefined && (this.shape.posOf[col] as number) >= 0);
    if (candidates.length === 0) return null;
    const col = this.rng.pick(candidates);
    return { col, raw: this.rng.pick(BAD_VALUES[KIND[col] as Kind]) };
  }

  /** Defect 1 on a row, decided by the spec rule; undefined when no determinate variant exists. */
  private unquoted(row: readonly string[]): Rec | undefined {
    const rng = this.rng;
    const shape = this.shape;
    const candidates = rng.shuffle(FREE_TEXT_COLUMNS.filter((col) => (shape.posOf[col] as number) >= 0 && unquotable(row[col] ?? '')));
    if (candidates.length === 0) return undefined;
    const wantRepair = rng.chance(0.75);
    type Outcome = { rec: Rec; result: 'repaired' | 'ambiguous' | 'no-column-fits' };
    const attempt = (bad: BadCell | null): { repair?: Outcome; quarantine?: Outcome } => {
      const cells = renderCells(row, bad, shape, rng);
      const found: { repair?: Outcome; quarantine?: Outcome } = {};
      for (const col of candidates) {
        const p = shape.posOf[col] as number;
        const fields = [...cells.slice(0, p), ...(cells[p] as string).split(','), ...cells.slice(p + 1)];
        const decision = decideUnquotedFreeText(fields, shape.kinds, shape.form);
        const line = serialize(cells, shape, p);
        if (decision.outcome === 'repair' && decision.position === p) found.repair ??= { rec: { line, load: true, row, bad }, result: 'repaired' };
        if (decision.outcome === 'quarantine') {
          const reason = decision.reason === 'ambiguous' ? 'EXTRA_FIELDS_AMBIGUOUS' : 'EXTRA_FIELDS_NO_FIT';
          found.quarantine ??= { rec: { line, load: false, row, bad, reason }, result: decision.reason };
        }
      }
      return found;
    };
    const clean = attempt(null);
    let chosen = wantRepair ? (clean.repair ?? clean.quarantine) : clean.quarantine;
    if (!chosen && !wantRepair) {
      const bad = this.badCell(row);
      if (bad) chosen = attempt(bad).quarantine;
      chosen ??= clean.repair;
    }
    if (!chosen) return undefined;
    this.injected.unquotedFreeText++;
    if (chosen.result === 'repaired') this.injected.unquotedRepaired++;
    else if (chosen.result === 'ambiguous') this.injected.unquotedAmbiguous++;
    else this.injected.unquotedNoColumnFits++;
    return chosen.rec;
  }
}

// ---------------------------------------------------------------------------------------------
// Objects

const BASE_TIME = Date.UTC(2024, 0, 2, 6, 0, 0);

function clampRate(name: string, value: number | undefined): number {
  const v = value ?? 0;
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new Error(`sample generator: defect rate ${name} must be between 0 and 1, got ${value}`);
  return v;
}

/** Placeholders for the stray bytes of a damaged UTF-8 export: 0xFF and 0xE9 (private-use characters). */
const STRAY_BYTES = ['\uE000', '\uE001'];
const STRAY_PATTERN = /[\uE000\uE001]/g;
const HAS_STRAY = /[\uE000\uE001]/;
const STRAY_VALUE: Record<string, number> = { '\uE000': 0xff, '\uE001': 0xe9 };

function encodeText(text: string, cp1252: boolean): Buffer {
  if (cp1252) return V.encodeCp1252(text);
  if (!HAS_STRAY.test(text)) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let from = 0;
  for (const match of text.matchAll(STRAY_PATTERN)) {
    parts.push(Buffer.from(text.slice(from, match.index), 'utf8'), Buffer.of(STRAY_VALUE[match[0]]!));
    from = match.index + 1;
  }
  parts.push(Buffer.from(text.slice(from), 'utf8'));
  return Buffer.concat(parts);
}

type Special = 'empty' | 'header-only' | 'missing-sr';

export function generateExports(options: GenerateOptions): { objects: GeneratedObject[]; expected: Expected } {
  const rng = new Random(options.seed);
  const files = Math.max(0, Math.floor(options.files));
  const rowsPerFile = Math.max(0, options.rowsPerFile);
  const variations = options.variations ?? true;
  const prefix = options.prefix ?? '';
  const d = options.defects ?? {};
  const duplicateRows = Math.min(0.9, clampRate('duplicateRows', d.duplicateRows));
  const rates: Rates = {
    unquotedFreeText: clampRate('unquotedFreeText', d.unquotedFreeText),
    strayQuotes: clampRate('strayQuotes', d.strayQuotes),
    shortRows: clampRate('shortRows', d.shortRows),
    truncatedObjects: clampRate('truncatedObjects', d.truncatedObjects),
    duplicateRows,
    badValues: clampRate('badValues', d.badValues),
    invalidBytes: clampRate('invalidBytes', d.invalidBytes),
    // Each original row is followed by a copy within the object, and owes a copy across objects,
    // each with this probability: copies are then `duplicateRows` of all rows.
    dupEach: duplicateRows / (2 * (1 - duplicateRows)),
    rowScale: 1 / (1 - duplicateRows),
  };

  // Special objects and per-object variations.
  const specials = new Map<number, Special>();
  if (variations && files >= 5) {
    const order = rng.shuffle(Array.from({ length: files - 1 }, (_, i) => i + 1));
    specials.set(order[0] as number, 'empty');
    specials.set(order[1] as number, 'header-only');
    specials.set(order[2] as number, 'missing-sr');
  }
  const regular = Array.from({ length: files }, (_, i) => i).filter((i) => !specials.has(i));
  const features = new Map<number, Set<string>>();
  for (let i = 0; i < files; i++) features.set(i, new Set());
  if (variations) {
    for (const i of regular) {
      const set = features.get(i) as Set<string>;
      for (const f of FILE_FEATURES) if (rng.chance(FEATURE_SHARE[f])) set.add(f);
      if (set.has('bom') && set.has('cp1252')) set.delete(rng.chance(0.5) ? 'bom' : 'cp1252');
    }
    for (const f of FILE_FEATURES) {
      if (regular.length === 0 || regular.some((i) => features.get(i)?.has(f))) continue;
      const set = features.get(rng.pick(regular)) as Set<string>;
      set.add(f);
      if (f === 'bom') set.delete('cp1252');
      if (f === 'cp1252') set.delete('bom');
    }
  }
  const truncatedCount = Math.min(regular.length, Math.floor(rates.truncatedObjects * regular.length + rng.next()));
  const truncated = new Set(rng.shuffle(regular.slice()).slice(0, truncatedCount));
  const perRegular = regular.length > 0 ? (files * rowsPerFile) / regular.length : 0;

  const world = new World(rng, files * rowsPerFile, rowsPerFile);
  const oracle = new Oracle();
  const injected = emptyInjected();
  const debt = { unquoted: 0, stray: 0, bad: 0, within: 0, across: 0 };
  const objects: GeneratedObject[] = [];
  const expectedFiles: ExpectedFile[] = [];
  const half = Math.ceil(files / 2);
  let timeStep = 0;

  for (let index = 0; index < files; index++) {
    const special = specials.get(index);
    const set = features.get(index) as Set<string>;
    const fileFeatures = [...set];
    const gzip = set.has('gzip');
    const folder = index < half ? '2023' : '2024';
    const key = `${prefix}exports/${folder}/export_${String(index + 1).padStart(5, '0')}.${set.has('upperCaseExt') ? 'CSV' : 'csv'}${gzip ? '.gz' : ''}`;
    // About one object in five has the modification time of the one before it: the greater key wins.
    if (index > 0 && !rng.chance(0.2)) timeStep++;
    const lastModified = new Date(BASE_TIME + timeStep * HOUR * 1000);
    const eol = set.has('crlf') ? '\r\n' : '\n';
    const shape = makeShape(set, rng, special === 'missing-sr');
    const header = shape.layout.map((c) => c.header).join(',');
    const bom = set.has('bom') ? '\uFEFF' : '';
    const expectedFile: ExpectedFile = { key, status: 'loaded', rowsRead: 0, rowsLoaded: 0, rowsQuarantined: 0, valueIssues: 0 };

    if (special === 'empty') {
      objects.push({ key, body: Buffer.alloc(0), lastModified, data: true, encoding: 'utf-8', features: ['empty'] });
      expectedFiles.push(expectedFile);
      continue;
    }
    if (special === 'header-only') {
      objects.push({ key, body: Buffer.from(header + eol, 'utf8'), lastModified, data: true, encoding: 'utf-8', features: ['header-only'] });
      expectedFiles.push(expectedFile);
      continue;
    }

    const failed = special === 'missing-sr';
    const target = failed ? Math.max(1, Math.min(50, Math.round(rowsPerFile))) : Math.round(perRegular * (0.7 + 0.6 * rng.next()));
    const blank = set.has('blankLines');
    const writer = new FileWriter(
      world, shape, rates, debt, failed ? emptyInjected() : injected, index, failed ? null : oracle, expectedFile,
      blank ? Math.max(2, Math.floor(target / 3)) : 0,
    );
    if (blank && !bom && rng.chance(0.5)) writer.addLine('');
    writer.addLine(header);
    if (failed) {
      while (writer.count < target) writer.plain(world.newSr(false));
      expectedFile.status = 'failed';
      expectedFile.errorClass = 'MISSING_REQUIRED_COLUMNS';
      fileFeatures.push('missing-sr');
    } else {
      let originals = 0;
      const inThisFile = new Set<Sr>();
      const openInThisFile: Sr[] = [];
      while (originals < target) {
        const roll = rng.next();
        let sr: Sr | undefined;
        if (roll < 0.2) {
          const repeat = world.pickOpen(index);
          if (repeat && !inThisFile.has(repeat)) sr = repeat;
        } else if (roll < 0.24 && openInThisFile.length > 0) {
          // An SR already in this object comes back moved on: the later rows win.
          sr = rng.pick(openInThisFile);
          if (sr.stage >= 3) sr = undefined;
        }
        if (sr) world.advance(sr);
        else sr = world.newSr(true);
        if (!inThisFile.has(sr)) openInThisFile.push(sr);
        inThisFile.add(sr);
        world.maybeRename(sr);
        const written = writer.emit(sr);
        originals += written;
        writer.copiesAcross(written);
      }
    }
    const rows = writer.count;
    const noFinalNewline = set.has('noFinalNewline') && rows > 0;
    const isTruncated = writer.finish(truncated.has(index) && rows > 0, noFinalNewline);
    if (isTruncated) {
      injected.truncatedObjects++;
      fileFeatures.push('truncated');
    }
    if (writer.strayBytes > 0) fileFeatures.push('invalid-bytes');

    // The text: header, rows, blank lines, final newline.
    let text = bom + writer.lines.join(eol);
    if (!isTruncated && !noFinalNewline) {
      text += eol;
      if (blank && rng.chance(0.5)) text += eol;
    }
    let body = encodeText(text, shape.cp1252);
    if (gzip) body = gzipSync(body, { level: 1 });
    objects.push({ key, body, lastModified, data: true, encoding: shape.cp1252 ? 'windows-1252' : 'utf-8', features: fileFeatures });
    expectedFiles.push(expectedFile);
  }

  const skipped: string[] = [];
  if (variations) {
    const before = new Date(BASE_TIME - DAY * 1000);
    const others: GeneratedObject[] = [
      {
        key: `${prefix}README.txt`,
        body: Buffer.from('Toshiba service-request exports.\nOne CSV per export run; see the data contract.\n', 'utf8'),
        lastModified: before,
        data: false,
        features: ['not-data'],
      },
      { key: `${prefix}exports/2024/`, body: Buffer.alloc(0), lastModified: before, data: false, features: ['folder-marker'] },
      {
        key: `${prefix}exports/2024/service_summary.xlsx`,
        body: Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00]), Buffer.from(Array.from({ length: 256 }, () => rng.int(256)))]),
        lastModified: before,
        data: false,
        features: ['not-data'],
      },
    ];
    objects.push(...others);
    skipped.push(...others.map((o) => o.key));
  }
  objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  skipped.sort();

  const sum = (f: (e: ExpectedFile) => number): number => expectedFiles.reduce((n, e) => n + f(e), 0);
  const rows = oracle.rows();
  const expected: Expected = {
    tables: {
      customers: rows.customers.length,
      service_requests: rows.service_requests.length,
      tasks: rows.tasks.length,
      parts_used: rows.parts_used.length,
      sr_notes: rows.sr_notes.length,
    },
    rows,
    rejects: oracle.rejects,
    issues: oracle.issues,
    files: expectedFiles,
    rowsRead: sum((e) => e.rowsRead),
    rowsLoaded: sum((e) => e.rowsLoaded),
    rowsQuarantined: sum((e) => e.rowsQuarantined),
    valueIssues: sum((e) => e.valueIssues),
    srStatus: Object.fromEntries(rows.service_requests.map((row) => [row.sr_number!, row.sr_status ?? null])),
    taskStatus: Object.fromEntries(rows.tasks.map((row) => [row.task_number!, row.task_status ?? null])),
    skipped,
    injected,
  };
  return { objects, expected };
}

/** Writes objects under `dir` (subfolders created, folder markers as folders), mtimes = lastModified. */
export async function writeExports(dir: string, objects: readonly GeneratedObject[]): Promise<void> {
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  for (const object of objects) {
    const target = path.resolve(root, object.key);
    if (target !== root && !target.startsWith(root + path.sep)) throw new Error(`writeExports: key ${object.key} leaves ${dir}`);
    if (object.key.endsWith('/')) {
      await mkdir(target, { recursive: true });
      continue;
    }
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, object.body);
    await utimes(target, object.lastModified, object.lastModified);
  }
}
