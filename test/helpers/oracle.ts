// Comparing what a load left in Postgres with the generator's oracle, value by value and both
// ways (rows missing and rows that should not be there): every key and business column of the
// five tables, every quarantined row (object, line, reason, raw text and exact bytes), every recorded value
// (object, line, column, raw value) and every ledger row. A failure lists the first differences.
import assert from 'node:assert/strict';
import pg from 'pg';
import { EXPECTED_TABLES, TABLE_NAMES, type Expected, type ExpectedRow, type TableName } from '../../src/sample/generator.ts';

const SHOWN = 12;

/**
 * Every row of the five tables as text (timestamps ISO, numerics as stored), by table; with
 * `objects`, only the rows those objects won.
 */
export async function readTables(url: string, objects?: ReadonlySet<string>): Promise<Record<TableName, ExpectedRow[]>> {
  return withClient(url, async (client) => {
    const out = {} as Record<TableName, ExpectedRow[]>;
    for (const table of TABLE_NAMES) {
      const { key, columns } = EXPECTED_TABLES[table];
      const names = [...key, ...columns];
      // Table and column names are the constants above; no data goes into the SQL.
      const { rows } = await client.query<ExpectedRow & { source_object: string }>(
        // In key order: rows compared as lists must not depend on the order the loads wrote them.
        `SELECT ${names.map((name) => `${name}::text AS ${name}`).join(', ')}, source_object FROM ${table} ORDER BY ${key.map((name) => `${name}::text COLLATE "C"`).join(', ')}`,
      );
      out[table] = rows.filter((row) => !objects || objects.has(row.source_object)).map(({ source_object: _, ...row }) => row);
    }
    return out;
  });
}

export interface Differences {
  missing: string[];
  extra: string[];
  changed: string[];
}

/** Rows compared by key: what the oracle has and the database lacks, the reverse, and values that differ. */
export function compareRows(table: TableName, want: readonly ExpectedRow[], got: readonly ExpectedRow[]): Differences {
  const { key, columns } = EXPECTED_TABLES[table];
  const keyOf = (row: ExpectedRow) => JSON.stringify(key.map((name) => row[name] ?? null));
  const wanted = new Map(want.map((row) => [keyOf(row), row]));
  const found = new Map<string, ExpectedRow>();
  const differences: Differences = { missing: [], extra: [], changed: [] };
  for (const row of got) {
    const id = keyOf(row);
    if (found.has(id)) differences.extra.push(`${table} ${id} twice`);
    found.set(id, row);
  }
  for (const [id, row] of wanted) {
    const have = found.get(id);
    if (!have) {
      differences.missing.push(`${table} ${id}`);
      continue;
    }
    for (const column of columns) {
      if ((have[column] ?? null) !== (row[column] ?? null)) {
        differences.changed.push(`${table} ${id} ${column}: want ${JSON.stringify(row[column])}, got ${JSON.stringify(have[column])}`);
      }
    }
  }
  for (const id of found.keys()) if (!wanted.has(id)) differences.extra.push(`${table} ${id}`);
  return differences;
}

/** Multisets of tuples compared both ways. */
function compareTuples(what: string, want: readonly unknown[][], got: readonly unknown[][]): string[] {
  const count = (tuples: readonly unknown[][]) => {
    const counts = new Map<string, number>();
    for (const tuple of tuples) counts.set(JSON.stringify(tuple), (counts.get(JSON.stringify(tuple)) ?? 0) + 1);
    return counts;
  };
  const wanted = count(want);
  const found = count(got);
  const problems: string[] = [];
  for (const [tuple, n] of wanted) if ((found.get(tuple) ?? 0) < n) problems.push(`${what} missing: ${tuple}`);
  for (const [tuple, n] of found) if ((wanted.get(tuple) ?? 0) < n) problems.push(`${what} not expected: ${tuple}`);
  return problems;
}

/**
 * Asserts that the database holds exactly what the oracle says: the five tables, the quarantine,
 * the value issues and one ledger row per data object with its status, class and row accounts.
 */
export async function assertMatchesOracle(url: string, expected: Expected, label = 'the load', scope: { objects?: ReadonlySet<string> } = {}): Promise<void> {
  const problems: string[] = [];
  const { objects } = scope;
  const mine = (row: { object_key: string }) => !objects || objects.has(row.object_key);
  const tables = await readTables(url, objects);
  for (const table of TABLE_NAMES) {
    const differences = compareRows(table, expected.rows[table], tables[table]);
    problems.push(...differences.missing.map((line) => `missing row: ${line}`), ...differences.extra.map((line) => `extra row: ${line}`), ...differences.changed);
  }
  await withClient(url, async (client) => {
    const rejects = await client.query<{ object_key: string; line_number: number; reason: string; raw: string; raw_bytes: string }>(
      `SELECT object_key, line_number, reason, raw, encode(raw_bytes, 'hex') AS raw_bytes FROM etl_rejects`,
    );
    problems.push(
      ...compareTuples(
        'quarantined row [key, line, reason, raw text, raw bytes]',
        expected.rejects.map((reject) => [reject.key, reject.line, reject.reason, reject.raw, reject.rawBytes.toString('hex')]),
        rejects.rows.filter(mine).map((row) => [row.object_key, row.line_number, row.reason, row.raw, row.raw_bytes]),
      ),
    );
    const issues = await client.query<{ object_key: string; line_number: number; column_name: string; raw_value: string }>(
      'SELECT object_key, line_number, column_name, raw_value FROM etl_value_issues',
    );
    problems.push(
      ...compareTuples(
        'value issue',
        expected.issues.map((issue) => [issue.key, issue.line, issue.column, issue.raw]),
        issues.rows.filter(mine).map((row) => [row.object_key, row.line_number, row.column_name, row.raw_value]),
      ),
    );
    const files = await client.query<{ object_key: string; status: string; error_class: string | null; rows_read: string; rows_loaded: string; rows_quarantined: string; values_recorded: string }>(
      'SELECT object_key, status, error_class, rows_read, rows_loaded, rows_quarantined, values_recorded FROM etl_files',
    );
    problems.push(
      ...compareTuples(
        'ledger row [key, status, class, read, loaded, quarantined, values]',
        expected.files.map((file) =>
          file.status === 'loaded'
            ? [file.key, 'loaded', null, file.rowsRead, file.rowsLoaded, file.rowsQuarantined, file.valueIssues]
            : [file.key, file.status, file.errorClass ?? null, 0, 0, 0, 0],
        ),
        files.rows.filter(mine).map((row) => [row.object_key, row.status, row.error_class, Number(row.rows_read), Number(row.rows_loaded), Number(row.rows_quarantined), Number(row.values_recorded)]),
      ),
    );
  });
  if (problems.length > 0) {
    assert.fail(`${label} differs from the oracle in ${problems.length} places, first ${Math.min(SHOWN, problems.length)}:\n  ${problems.slice(0, SHOWN).join('\n  ')}`);
  }
}

/**
 * Everything a run could change, for "a second run changes nothing": every column of the five
 * tables (lineage and loaded_at included), the ledger, the quarantine and the value issues.
 */
export async function snapshot(url: string): Promise<Record<string, unknown[]>> {
  return withClient(url, async (client) => {
    const out: Record<string, unknown[]> = {};
    for (const table of TABLE_NAMES) {
      const key = EXPECTED_TABLES[table].key.map((name) => `${name} COLLATE "C"`.replace('note_date COLLATE "C"', 'note_date')).join(', ');
      out[table] = (await client.query(`SELECT * FROM ${table} ORDER BY ${key}`)).rows;
    }
    out.etl_files = (await client.query('SELECT * FROM etl_files ORDER BY object_key COLLATE "C"')).rows;
    out.etl_rejects = (await client.query('SELECT * FROM etl_rejects ORDER BY id')).rows;
    out.etl_value_issues = (await client.query('SELECT * FROM etl_value_issues ORDER BY id')).rows;
    return out;
  });
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Timestamps as text in ISO form, whatever the server's default DateStyle.
    await client.query(`SET datestyle = 'ISO, MDY'`);
    return await work(client);
  } finally {
    await client.end();
  }
}
