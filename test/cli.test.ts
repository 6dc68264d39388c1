// The command line as an operator uses it: help everywhere, check, migrate, retry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freshDatabase } from './helpers/services.ts';
import { listMigrations } from '../src/load/migrate.ts';
import { runCli } from './helpers/cli.ts';

const COMMANDS = ['run', 'status', 'check', 'migrate', 'demo', 'rejects', 'retry', 'why'];

test('etl --help lists every command and the exit codes', async () => {
  const result = await runCli(['--help'], {});
  assert.equal(result.code, 0);
  for (const command of COMMANDS) assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'));
  assert.match(result.stdout, /Exit codes: 0 done/);
});

test('every command has its own --help', async () => {
  for (const command of COMMANDS) {
    const result = await runCli([command, '--help'], {});
    assert.equal(result.code, 0, command);
    assert.match(result.stdout, new RegExp(`^Usage: etl ${command}`), command);
    assert.match(result.stdout, /--config PATH/, command);
  }
});

test('an unknown command exits 2 and names the commands', async () => {
  const result = await runCli(['lod'], {});
  assert.equal(result.code, 2);
  assert.match(result.stderr, /unknown command "lod"\. Commands: run, plan, reload, status/);
});

test('etl migrate creates the tables once; etl check then passes on a folder source', async (t) => {
  const db = await freshDatabase({ prefix: 'cli' });
  const dir = mkdtempSync(path.join(tmpdir(), 'etl-cli-'));
  t.after(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(path.join(dir, 'a.csv'), 'SR Number,SR Status\n1,Open\n');
  writeFileSync(path.join(dir, 'notes.txt'), 'not data');
  const env = { DATABASE_URL: db.url, ETL_SOURCE: dir, ETL_STATE_DIR: path.join(dir, 'state') };
  const first = await runCli(['migrate'], env);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.ok(first.logs.some((line) => String(line.msg).startsWith(`applied ${listMigrations().length} migration`)), first.stdout);
  const second = await runCli(['migrate'], env);
  assert.ok(second.logs.some((line) => line.msg === 'the database is up to date'));
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const tables = (await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).rows.map((row) => row.tablename);
  await client.end();
  for (const table of ['customers', 'service_requests', 'tasks', 'parts_used', 'sr_notes', 'etl_files', 'etl_rejects', 'etl_value_issues', 'etl_runs']) {
    assert.ok(tables.includes(table), `${table} exists`);
  }
  const check = await runCli(['check'], env);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const source = check.logs.find((line) => line.msg === 'source answers');
  assert.equal(source?.objects, 2);
  assert.equal(source?.data_objects, 1);
});

test('etl check exits 1 with the reason when the source folder is missing', async (t) => {
  const db = await freshDatabase({ prefix: 'cli' });
  t.after(() => db.drop());
  const result = await runCli(['check'], { DATABASE_URL: db.url, ETL_SOURCE: '/nonexistent/exports' });
  assert.equal(result.code, 1);
  assert.match(result.stdout + result.stderr, /The source folder \/nonexistent\/exports does not exist: fix source \(ETL_SOURCE\)\./);
});

test('etl retry marks a failed object to load on the next run', async (t) => {
  const db = await freshDatabase({ prefix: 'cli' });
  const dir = mkdtempSync(path.join(tmpdir(), 'etl-retry-'));
  t.after(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(path.join(dir, 'bad.csv'), 'Ticket,Status\n1,Open\n');
  const env = { DATABASE_URL: db.url, ETL_SOURCE: dir, ETL_STATE_DIR: path.join(dir, 'state') };
  assert.equal((await runCli(['run'], env)).code, 3, 'an object failed: exit 3');
  const waiting = await runCli(['run'], env);
  assert.equal(waiting.code, 3, 'MISSING_REQUIRED_COLUMNS waits for the object to change, and the object is still failed: exit 3 again');
  assert.equal(waiting.logs.find((line) => line.msg === 'run planned')?.to_load, 0);
  const retry = await runCli(['retry', 'bad.csv'], env);
  assert.equal(retry.code, 0);
  assert.match(retry.stdout, /1 object\(s\) will be loaded by the next run/);
  const again = await runCli(['run'], env);
  assert.equal(again.logs.find((line) => line.msg === 'run planned')?.to_load, 1);
  assert.equal(again.code, 3, 'still failing: the file did not change');
});
