// `etl why TABLE KEY...` as a data engineer uses it: on loaded exports, it names the object, line,
// version, run and trace that the lineage columns and the ledger hold for the row, with the
// table's own values; it says why that object won over the others that carried the key, and lists
// the key's quarantined rows and unfit values; a missing key exits 1 and a bad table or key 2,
// each with one sentence; it works with a read-only role.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateExports, writeExports } from '../src/sample/generator.ts';
import { TARGET_TABLES } from '../src/load/target-tables.ts';
import { runCli, type CliResult } from './helpers/cli.ts';
import { query, withReadOnlyRole } from './helpers/db.ts';
import { freshDatabase, type FreshDatabase } from './helpers/services.ts';
import { csvLine, HEADERS, sampleRow } from './helpers/read.ts';

interface WhyReport {
  table: string;
  key: Record<string, string | null>;
  row: Record<string, unknown>;
  source: { object_key: string; version: string | null; line: number; last_modified: string; loaded_at: string; run_id: string | null; trace_id: string | null };
  won: { rule: string; over: Array<{ object_key: string; last_modified: string | null; lines: Array<{ line: number; via: string }>; outcome: string }> };
  quarantined: Array<{ object_key: string; line_number: number; reason: string; raw: string }>;
  value_issues: Array<{ object_key: string; line_number: number; column_name: string; raw_value: string }>;
}

/** The command's one sentence: its error log line (JSON on stdout), or its last line on stderr. */
const errorLine = (result: CliResult) => String(result.logs.filter((line) => line.level === 'error').at(-1)?.msg ?? result.stderr.trim().split('\n').at(-1) ?? '');

function why(env: Record<string, string>, args: string[]): Promise<CliResult> {
  return runCli(['why', ...args], env);
}

async function whyJson(env: Record<string, string>, args: string[]): Promise<WhyReport> {
  const result = await why(env, [...args, '--json']);
  assert.equal(result.code, 0, `etl why ${args.join(' ')}: ${errorLine(result)}`);
  return JSON.parse(result.stdout) as WhyReport;
}

/** The table's row, as a person would SELECT it, in JSON form (as --json prints it). */
async function tableRow(url: string, table: (typeof TARGET_TABLES)[number], where: string, params: unknown[]) {
  const columns = [...table.key, ...table.columns];
  // As text, the way the etl prints timestamps (without time zone) and numbers.
  const [row] = await query(url, `SELECT ${columns.map((column) => `${column}::text AS ${column}`).join(', ')}, source_object, source_line, source_modified, loaded_at FROM ${table.name} WHERE ${where}`, params);
  assert.ok(row, `${table.name} has the row`);
  return { values: JSON.parse(JSON.stringify(Object.fromEntries(columns.map((column) => [column, row[column]])))) as Record<string, unknown>, lineage: row };
}

describe('etl why on generated exports', () => {
  let db: FreshDatabase;
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    db = await freshDatabase({ prefix: 'why' });
    dir = mkdtempSync(path.join(tmpdir(), 'etl-why-'));
    const { objects } = generateExports({ seed: 2026, files: 6, rowsPerFile: 300 });
    await writeExports(dir, objects);
    env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, '.state'), LOG_FORMAT: 'json' };
    const run = await runCli(['run'], env);
    assert.ok(run.code === 0 || run.code === 3, errorLine(run));
  });
  after(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names the object, line, version, run and trace the lineage and the ledger hold, with the table\'s values, for every table', async () => {
    for (const table of TARGET_TABLES) {
      const picks = await query<Record<string, unknown>>(db.url, `SELECT ${table.key.map((column) => `${column}::text AS ${column}`).join(', ')} FROM ${table.name} WHERE ${table.key.map((column) => `${column} IS NOT NULL`).join(' AND ')} ORDER BY random() LIMIT 3`);
      assert.ok(picks.length > 0, `${table.name} has rows`);
      for (const pick of picks) {
        const key = table.key.map((column) => String(pick[column]));
        const report = await whyJson(env, [table.name, ...key]);
        const { values, lineage } = await tableRow(db.url, table, table.key.map((column, at) => `${column} = $${at + 1}`).join(' AND '), key);
        assert.deepEqual(report.row, values, `${table.name} ${key.join(' ')}: the row's values`);
        assert.equal(report.source.object_key, lineage['source_object']);
        assert.equal(report.source.line, lineage['source_line']);
        assert.equal(new Date(report.source.last_modified).getTime(), (lineage['source_modified'] as Date).getTime());
        const [ledger] = await query<{ loaded_version: string; run_id: string; trace_id: string | null }>(db.url, 'SELECT loaded_version, run_id, trace_id FROM etl_files WHERE object_key = $1', [lineage['source_object']]);
        assert.equal(report.source.version, ledger!.loaded_version);
        assert.equal(report.source.run_id, ledger!.run_id, 'the run that loaded the object');
        const [run] = await query<{ trace_id: string | null }>(db.url, 'SELECT trace_id FROM etl_runs WHERE run_id = $1', [ledger!.run_id]);
        assert.equal(report.source.trace_id, run!.trace_id);
      }
    }
  });

  it('a customer carried by several objects: every other object is older, or as old with a smaller key (latest-wins)', async () => {
    const [customer] = await query<{ account_number: string; objects: number }>(
      db.url,
      `SELECT c.account_number, count(DISTINCT s.source_object)::int AS objects FROM customers c JOIN service_requests s USING (account_number)
       WHERE s.source_object <> c.source_object GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1`,
    );
    assert.ok(customer, 'the generated exports repeat customers across objects');
    const report = await whyJson(env, ['customers', customer.account_number]);
    assert.equal(report.won.over.length, customer.objects);
    for (const other of report.won.over) {
      assert.ok(other.lines.length > 0 && other.lines.every((line) => line.via === 'service_requests'), other.object_key);
      assert.match(other.outcome, /^(older|as old: ties go to the greater key)/, `${other.object_key}: ${other.outcome}`);
      assert.ok(new Date(other.last_modified!).getTime() <= new Date(report.source.last_modified).getTime());
    }
    const text = await why(env, ['customers', customer.account_number]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`^From\\n  ${report.source.object_key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line ${report.source.line}`, 'm'));
    assert.match(text.stdout, /^Why this row\n {2}latest-wins/m);
  });
});

describe('etl why on a key that two objects carry, with a quarantined row and an unfit value', () => {
  let db: FreshDatabase;
  let dir: string;
  let env: Record<string, string>;
  const line = (overrides: Record<string, string>) => csvLine(HEADERS, sampleRow(overrides));
  before(async () => {
    db = await freshDatabase({ prefix: 'why_story' });
    dir = mkdtempSync(path.join(tmpdir(), 'etl-why-story-'));
    const write = (name: string, lines: string[], mtimeSeconds: number) => {
      const file = path.join(dir, name);
      writeFileSync(file, [csvLine(HEADERS, Object.fromEntries(HEADERS.map((header) => [header, header]))), ...lines].join('\n') + '\n');
      utimesSync(file, mtimeSeconds, mtimeSeconds);
    };
    write('march.csv', [line({ 'SR Number': '7000001', 'SR Status': 'Open', 'Task Number': '8000001' })], 1_711_929_600);
    write(
      'april.csv',
      [
        line({ 'SR Number': '7000001', 'SR Status': 'Closed', 'Task Number': '8000002', 'Closed Date': 'yesterday' }),
        '"7000001","Break/Fix","Closed"',
      ],
      1_714_521_600,
    );
    env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, '.state'), LOG_FORMAT: 'json' };
    const run = await runCli(['run'], env);
    assert.equal(run.code, 0, errorLine(run));
  });
  after(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the newer object won; the older one lost; the short row and the unfit Closed Date are listed', async () => {
    const report = await whyJson(env, ['service_requests', '7000001']);
    assert.equal(report.row['sr_status'], 'Closed');
    assert.equal(report.row['closed_at'], null);
    assert.deepEqual([report.source.object_key, report.source.line], ['april.csv', 2]);
    assert.deepEqual(
      report.won.over.map((other) => [other.object_key, other.lines.map((entry) => [entry.line, entry.via]), other.outcome.split(':')[0]]),
      [['march.csv', [[2, 'tasks']], 'older']],
    );
    assert.deepEqual(report.quarantined.map((row) => [row.object_key, row.line_number, row.reason, row.raw]), [['april.csv', 3, 'SHORT_ROW', '"7000001","Break/Fix","Closed"']]);
    assert.deepEqual(report.value_issues.map((issue) => [issue.object_key, issue.line_number, issue.column_name, issue.raw_value]), [['april.csv', 2, 'Closed Date', 'yesterday']]);
    const text = await why(env, ['service_requests', '7000001']);
    assert.match(text.stdout, /^ {2}march\.csv line 2 \(via tasks\): modified 2024-04-01T00:00:00\.000Z, older/m);
    assert.match(text.stdout, /^ {2}april\.csv:3 {2}SHORT_ROW/m);
  });

  it('a key that is not there exits 1, an unknown table or a key of the wrong arity 2, each with one sentence', async () => {
    const missing = await why(env, ['service_requests', '999']);
    assert.equal(missing.code, 1);
    assert.deepEqual(missing.logs.map((line) => line.level), ['error'], 'one sentence, and no report');
    assert.match(errorLine(missing), /service_requests has no row with key 999/);
    const cases: Array<[string[], RegExp]> = [
      [['orders', '1'], /there is no table "orders"; the tables are customers, service_requests, tasks, parts_used, sr_notes/],
      [['parts_used', '8000001'], /the key of parts_used is 2 values \(task_number, part_number\), not 1/],
      [['service_requests', '1', '2'], /the key of service_requests is one value \(sr_number\), not 2/],
      [['sr_notes', '7000001', 'soon', 'text'], /note_date must be a timestamp/],
      [[], /name a table and a key/],
    ];
    for (const [args, message] of cases) {
      const result = await why(env, args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(errorLine(result), message, args.join(' '));
      assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(result.logs.length, 1, 'one sentence');
    }
  });

  it('works with a read-only role', async () => {
    await withReadOnlyRole(db.url, 'etl_why', async (readerUrl) => {
      const report = await whyJson({ ...env, DATABASE_URL: readerUrl }, ['tasks', '8000002']);
      assert.deepEqual([report.source.object_key, report.source.line], ['april.csv', 2]);
    });
  });
});
