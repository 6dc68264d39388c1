// "The latest object wins" (spec, "Rows and tables"), through the CLI on a real Postgres: objects
// arriving in shuffled orders, a few per run, and an older object loaded again, give the oracle's
// tables value by value; equal modification times go to the greater key in byte order, also on a
// database whose collation sorts otherwise (ICU en-US); times compare at millisecond precision.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateExports, writeExports, type GeneratedObject } from '../src/sample/generator.ts';
import { Random } from '../src/sample/random.ts';
import { runCli } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';
import { freshDatabase } from './helpers/services.ts';

const DEFECTS = { unquotedFreeText: 0.05, strayQuotes: 0.04, shortRows: 0.03, truncatedObjects: 0.3, duplicateRows: 0.05, badValues: 0.03, invalidBytes: 0.01 };

/** A seed for the shuffles, printed so that a failure can be replayed with SHUFFLE_SEED. */
const SHUFFLE_SEED = Number(process.env.SHUFFLE_SEED ?? Date.now() % 1_000_000);
console.log(`latest-wins: SHUFFLE_SEED=${SHUFFLE_SEED}`);

function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

describe('objects loaded in shuffled orders, a few per run, give the same tables', () => {
  const { objects, expected } = generateExports({ seed: 31, files: 14, rowsPerFile: 120, defects: DEFECTS });
  const failed = new Set(expected.files.filter((file) => file.status === 'failed').map((file) => file.key));
  const random = new Random(SHUFFLE_SEED);

  for (let round = 1; round <= 2; round++) {
    test(`order ${round} (SHUFFLE_SEED=${SHUFFLE_SEED}), then an older object loaded again`, async (t) => {
      const db = await freshDatabase({ prefix: `order_${round}` });
      const dir = tempDir('etl-order-');
      const stateDir = tempDir('etl-order-state-');
      t.after(async () => {
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
        rmSync(stateDir, { recursive: true, force: true });
      });
      const env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
      const order = random.shuffle(objects.slice());
      const runs: string[] = [];
      // Batches of 1 to 4 objects: each run loads only what arrived since the last one.
      for (let at = 0; at < order.length; ) {
        const batch: GeneratedObject[] = order.slice(at, at + 1 + random.int(4));
        at += batch.length;
        await writeExports(dir, batch);
        runs.push(batch.map((object) => object.key).join(' '));
        const result = await runCli(['run'], env);
        // Exit 3 once the object without SR Number has arrived (it stays failed), 0 before.
        const failedArrived = order.slice(0, at).some((object) => failed.has(object.key));
        assert.equal(result.code, failedArrived ? 3 : 0, `run over ${runs.at(-1)}: exit ${result.code}\n${result.stderr}`);
      }
      await assertMatchesOracle(db.url, expected, `objects loaded in the order ${runs.map((keys) => `[${keys}]`).join(' ')}`);

      // An older object loaded again (forced by `etl retry`) changes no table.
      const older = order.filter((object) => object.data && expected.files.find((file) => file.key === object.key)?.status === 'loaded')[0]!;
      const before = await snapshot(db.url);
      assert.equal((await runCli(['retry', older.key], env)).code, 0);
      const retried = await runCli(['run'], env);
      assert.equal(retried.code, failed.size > 0 ? 3 : 0, retried.stdout + retried.stderr);
      assert.equal(retried.logs.find((line) => line.msg === 'run planned')?.to_load, 1);
      const after = await snapshot(db.url);
      for (const table of ['customers', 'service_requests', 'tasks', 'parts_used', 'sr_notes']) {
        const values = (rows: unknown[]) => rows.map((row) => ({ ...(row as Record<string, unknown>), loaded_at: undefined }));
        assert.deepEqual(values(after[table]!), values(before[table]!), `${table} changed when ${older.key} was loaded again`);
      }
      await assertMatchesOracle(db.url, expected, `after ${older.key} was loaded again`);
    });
  }
});

describe('ties and precision of modification times', () => {
  const header = 'SR Number,SR Status,Account Number,Customer Name';
  const write = (dir: string, name: string, status: string, customer: string, mtimeSeconds: number) => {
    const file = path.join(dir, name);
    writeFileSync(file, `${header}\n100,${status},0042,${customer}\n`);
    utimesSync(file, mtimeSeconds, mtimeSeconds);
  };
  const winner = async (url: string) =>
    (await query<{ sr_status: string; customer_name: string; source_object: string }>(
      url,
      'SELECT sr_status, customer_name, s.source_object FROM service_requests s JOIN customers USING (account_number)',
    ))[0];
  const T = Date.UTC(2024, 4, 1) / 1000;

  for (const order of [['B.csv', 'a.csv'], ['a.csv', 'B.csv']]) {
    test(`equal times: the greater key in byte order wins on an ICU en-US database, loaded ${order.join(' then ')}`, async (t) => {
      const db = await freshDatabase({ prefix: 'icu_tie', icuLocale: 'en-US' });
      const dir = tempDir('etl-tie-');
      const stateDir = tempDir('etl-tie-state-');
      t.after(async () => {
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
        rmSync(stateDir, { recursive: true, force: true });
      });
      // The database's own collation sorts 'B.csv' after 'a.csv'; byte order puts 'a' (0x61) after 'B' (0x42).
      const [collation] = await query<{ b_after_a: boolean }>(db.url, `SELECT 'B.csv' > 'a.csv' AS b_after_a`);
      assert.equal(collation!.b_after_a, true, 'the test database sorts linguistically');
      const env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
      for (const name of order) {
        write(dir, name, `from ${name}`, `Customer of ${name}`, T);
        const result = await runCli(['run'], env);
        assert.equal(result.code, 0, result.stdout + result.stderr);
      }
      assert.deepEqual(await winner(db.url), { sr_status: 'from a.csv', customer_name: 'Customer of a.csv', source_object: 'a.csv' });
    });
  }

  test('times compare at millisecond precision: 0.3 ms later is a tie (the greater key wins), 1 ms later wins', async (t) => {
    const db = await freshDatabase({ prefix: 'ms_tie' });
    const dir = tempDir('etl-ms-');
    const stateDir = tempDir('etl-ms-state-');
    t.after(async () => {
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    });
    const env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
    write(dir, 'a.csv', 'from a.csv', 'Customer of a.csv', T + 0.0001);
    write(dir, 'B.csv', 'from B.csv', 'Customer of B.csv', T + 0.0004); // later, but in the same millisecond
    assert.equal((await runCli(['run'], env)).code, 0);
    assert.deepEqual(await winner(db.url), { sr_status: 'from a.csv', customer_name: 'Customer of a.csv', source_object: 'a.csv' });
    write(dir, 'A.csv', 'from A.csv', 'Customer of A.csv', T + 0.0011); // the next millisecond: newest, smallest key
    assert.equal((await runCli(['run'], env)).code, 0);
    assert.deepEqual(await winner(db.url), { sr_status: 'from A.csv', customer_name: 'Customer of A.csv', source_object: 'A.csv' });
  });
});
