// The whole pipeline reading from the real MinIO, through the CLI (`node src/main.ts run` with
// ETL_SOURCE=s3://bucket/Toshiba/Historical Tickets/): exact counts against the generator's
// oracle, a second run that changes nothing, incremental semantics (changed, gone, failed with a
// growing delay, MISSING_REQUIRED_COLUMNS, `etl retry`), a download cut mid-object and resumed
// with a ranged GET, a run killed mid-download and resumed, a 503 storm, and the one-sentence
// source errors with exit 1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { RunSummary } from '../src/pipeline/run.ts';
import { generateExports, type Expected, type GenerateOptions } from '../src/sample/generator.ts';
import { runCli, startCli, type CliResult } from './helpers/cli.ts';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.ts';
import { createTestBucket, s3Env, type TestBucket } from './helpers/s3.ts';
import { query, tableCounts } from './helpers/db.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';
import { freshDatabase, requireService, type FreshDatabase } from './helpers/services.ts';

const PREFIX = 'Toshiba/Historical Tickets/';

interface LedgerRow {
  object_key: string;
  version: string;
  status: string;
  error_class: string | null;
  error_message: string | null;
  attempts: number;
  rows_read: number;
  rows_loaded: number;
  delay_seconds: number | null;
  updated_at: Date;
}

async function ledger(url: string): Promise<Map<string, LedgerRow>> {
  const rows = await query<LedgerRow>(
    url,
    `SELECT object_key, version, status, error_class, error_message, attempts, rows_read::int, rows_loaded::int, updated_at,
            round(extract(epoch FROM next_attempt_at - updated_at))::int AS delay_seconds
     FROM etl_files ORDER BY object_key`,
  );
  return new Map(rows.map((row) => [row.object_key, row]));
}

/** The `run ...` summary line the CLI logs at the end. */
function summaryOf(result: CliResult): Pick<RunSummary, 'status' | 'files' | 'rows' | 'failed_files'> {
  const line = result.logs.find((log) => log.summary !== undefined);
  assert.ok(line, `no summary line in\n${result.stdout}\n${result.stderr}`);
  return line.summary as ReturnType<typeof summaryOf>;
}

const explain = (result: CliResult) => `exit ${result.code}\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-2000)}`;
const spoolFiles = async (stateDir: string) => (await readdir(path.join(stateDir, 'tmp')).catch(() => [] as string[])).sort();

/** A small export with the columns these tests look at. */
function csv(rows: Array<[sr: string, status: string, account: string]>, header = 'SR Number,SR Status,Account Number,Customer Name'): string {
  return [header, ...rows.map(([sr, status, account]) => `${sr},${status},${account},Customer ${account}`)].join('\n') + '\n';
}

const SETS: Array<[name: string, options: GenerateOptions]> = [
  ['clean', { seed: 4242, files: 16, rowsPerFile: 80 }],
  // Every defect far above production rates, as in defects-pipeline.test.ts, read from S3 this time.
  ['defect-heavy', { seed: 77, files: 14, rowsPerFile: 120, defects: { unquotedFreeText: 0.06, strayQuotes: 0.05, shortRows: 0.04, truncatedObjects: 0.5, duplicateRows: 0.05, badValues: 0.04, invalidBytes: 0.01 } }],
];

for (const [setName, options] of SETS) describe(`${setName} generated exports in MinIO, loaded through the CLI`, () => {
  let bucket: TestBucket;
  let db: FreshDatabase;
  let stateDir: string;
  let expected: Expected;
  let env: Record<string, string>;

  before(async () => {
    bucket = await createTestBucket(`etl-s3-${setName}`);
    db = await freshDatabase({ prefix: `s3_${setName}` });
    stateDir = await mkdtemp(path.join(tmpdir(), 'etl-s3-e2e-'));
    const generated = generateExports(options);
    expected = generated.expected;
    assert.ok(generated.objects.some((object) => object.key.endsWith('.csv.gz')), 'the sample holds a gzip object');
    // In key order, one at a time: S3 sets LastModified (whole seconds) at upload, so the objects'
    // order by (time, key) is the generator's, ties included (several land in the same second).
    for (const object of [...generated.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) await bucket.put(PREFIX + object.key, object.body);
    env = { ...s3Env(bucket.name, PREFIX), DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
  });
  after(async () => {
    await db?.drop();
    await bucket?.drop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('etl check lists the bucket', async () => {
    const result = await runCli(['check'], env);
    assert.equal(result.code, 0, explain(result));
    const line = result.logs.find((log) => log.msg === 'source answers');
    assert.ok(line, explain(result));
    assert.equal(line.data_objects, expected.files.length);
  });

  it('the first run loads every row as the oracle says, one ledger row per data object, and leaves no local copy', async () => {
    const result = await runCli(['run'], env);
    const failures = expected.files.filter((file) => file.status === 'failed').length;
    assert.equal(result.code, failures > 0 ? 3 : 0, explain(result));
    assert.deepEqual(await tableCounts(db.url), expected.tables);
    await assertMatchesOracle(db.url, expected, `the ${setName} set from S3`);
    const files = await ledger(db.url);
    assert.equal(files.size, expected.files.length);
    for (const want of expected.files) assert.match(files.get(want.key)!.version, /^[0-9a-f]{32}$/, 'the version is the ETag');
    const summary = summaryOf(result);
    assert.equal(summary.files.skipped, expected.skipped.length);
    assert.equal(summary.rows.read, expected.rowsRead);
    assert.deepEqual(await spoolFiles(stateDir), [], 'every local copy was removed after its file');
  });

  it('a second run changes nothing: every row, lineage, loaded_at and ledger row the same', async () => {
    const before = await snapshot(db.url);
    const result = await runCli(['run'], env);
    assert.equal(result.code, expected.files.some((file) => file.status === 'failed') ? 3 : 0, explain(result));
    const summary = summaryOf(result);
    assert.equal(summary.files.loaded, 0);
    assert.equal(summary.files.failed, 0);
    assert.equal(summary.files.unchanged + summary.files.waiting, expected.files.length);
    assert.deepEqual(await snapshot(db.url), before);
    await assertMatchesOracle(db.url, expected, `the ${setName} set after the second run`);
  });
});

describe('incremental loading and faults on MinIO', () => {
  let bucket: TestBucket;
  let db: FreshDatabase;
  let stateDir: string;
  let proxy: FaultProxy;
  let env: Record<string, string>;
  const statusOf = async (sr: string) => (await query<{ sr_status: string }>(db.url, 'SELECT sr_status FROM service_requests WHERE sr_number = $1', [sr]))[0]?.sr_status;

  before(async () => {
    bucket = await createTestBucket('etl-s3-incr');
    db = await freshDatabase({ prefix: 's3_incr' });
    stateDir = await mkdtemp(path.join(tmpdir(), 'etl-s3-incr-'));
    proxy = await startFaultProxy(requireService('TEST_S3_ENDPOINT'));
    env = { ...s3Env(bucket.name, PREFIX), DATABASE_URL: db.url, ETL_STATE_DIR: stateDir, ETL_RETRY_BASE_SECONDS: '600', ETL_RETRY_MAX_SECONDS: '86400' };
  });
  after(async () => {
    await proxy?.close();
    await db?.drop();
    await bucket?.drop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('loads a changed object again, its rows winning, and skips an unchanged one', async () => {
    await bucket.put(`${PREFIX}2024/a.csv`, csv([['101', 'Open', '0001'], ['102', 'Open', '0002']]));
    await bucket.put(`${PREFIX}2024/b file.csv.gz`, gzipSync(csv([['201', 'Open', '0003']])));
    let result = await runCli(['run'], env);
    assert.equal(result.code, 0, explain(result));
    assert.equal(summaryOf(result).files.loaded, 2);
    const first = await ledger(db.url);

    await bucket.put(`${PREFIX}2024/a.csv`, csv([['101', 'Closed', '0001'], ['102', 'Pending Parts', '0002'], ['103', 'Open', '0002']]));
    result = await runCli(['run'], env);
    assert.equal(result.code, 0, explain(result));
    const summary = summaryOf(result);
    assert.equal(summary.files.loaded, 1);
    assert.equal(summary.files.unchanged, 1);
    const second = await ledger(db.url);
    assert.notEqual(second.get('2024/a.csv')!.version, first.get('2024/a.csv')!.version);
    assert.equal(second.get('2024/a.csv')!.attempts, 1);
    assert.equal(second.get('2024/a.csv')!.rows_read, 3);
    assert.deepEqual(second.get('2024/b file.csv.gz'), first.get('2024/b file.csv.gz'));
    assert.equal(await statusOf('101'), 'Closed');
    assert.equal(await statusOf('102'), 'Pending Parts');
    assert.equal((await tableCounts(db.url)).service_requests, 4);
  });

  it('marks an object that left the bucket gone and keeps its rows; it loads again when it comes back', async () => {
    await bucket.remove(`${PREFIX}2024/b file.csv.gz`);
    let result = await runCli(['run'], env);
    assert.equal(result.code, 0, explain(result));
    assert.equal(summaryOf(result).files.gone, 1);
    assert.equal((await ledger(db.url)).get('2024/b file.csv.gz')!.status, 'gone');
    assert.equal(await statusOf('201'), 'Open', 'rows of a gone object are kept');

    await bucket.put(`${PREFIX}2024/b file.csv.gz`, gzipSync(csv([['201', 'Closed', '0003']])));
    result = await runCli(['run'], env);
    assert.equal(result.code, 0, explain(result));
    assert.equal((await ledger(db.url)).get('2024/b file.csv.gz')!.status, 'loaded');
    assert.equal(await statusOf('201'), 'Closed');
  });

  it('a prefix that lists nothing (a typo) changes nothing and fails with one sentence; the right prefix then has nothing to load', async () => {
    const before = await ledger(db.url);
    assert.ok(before.size > 0);
    const typo = { ...env, ETL_SOURCE: `s3://${bucket.name}/Toshiba/Historical Ticket/` };
    const result = await runCli(['run'], typo);
    assert.equal(result.code, 1, explain(result));
    const errors = result.logs.filter((log) => log.level === 'error').map((log) => String(log.msg));
    const sentence = new RegExp(
      `^s3://${bucket.name}/Toshiba/Historical Ticket/ at http://127\\.0\\.0\\.1:\\d+ lists no objects, but the ledger has ${before.size} objects from earlier runs that are not marked gone; nothing was changed\\. Check ETL_SOURCE \\(bucket and prefix\\)\\.`,
    );
    assert.ok(errors.some((message) => sentence.test(message)), errors.join(' | '));
    assert.deepEqual(await ledger(db.url), before, 'no object was marked gone');

    const again = await runCli(['run'], env);
    assert.equal(again.code, 0, explain(again));
    assert.equal(summaryOf(again).files.loaded, 0, 'nothing is loaded again');
    assert.equal(summaryOf(again).files.unchanged, before.size);
  });

  it('retries an object without SR Number only when it changes', async () => {
    const key = '2024/no sr.csv';
    await bucket.put(PREFIX + key, csv([['x', 'Open', '0009']], 'Ticket,SR Status,Account Number,Customer Name'));
    let result = await runCli(['run'], env);
    assert.equal(result.code, 3, explain(result));
    let row = (await ledger(db.url)).get(key)!;
    assert.equal(row.error_class, 'MISSING_REQUIRED_COLUMNS');
    assert.equal(row.delay_seconds, null, 'no retry time: it waits for a new version');

    result = await runCli(['run'], env);
    assert.equal(result.code, 3, `waiting, and still failed: ${explain(result)}`);
    assert.equal(summaryOf(result).files.waiting, 1);
    assert.equal((await ledger(db.url)).get(key)!.attempts, 1, 'not tried again');

    await bucket.put(PREFIX + key, csv([['301', 'Open', '0009']]));
    result = await runCli(['run'], env);
    assert.equal(result.code, 0, explain(result));
    row = (await ledger(db.url)).get(key)!;
    assert.equal(row.status, 'loaded');
    assert.equal(await statusOf('301'), 'Open');
  });

  it('fails a download cut mid-object as SOURCE_ERROR and goes on; retries with a growing delay; etl retry; resumes with a ranged GET', async () => {
    const key = '2025/big export.csv';
    const rows = Array.from({ length: 6000 }, (_, i): [string, string, string] => [String(500000 + i), 'Open', String(7000 + (i % 50)).padStart(6, '0')]);
    const body = csv(rows);
    await bucket.put(PREFIX + key, body);
    await bucket.put(`${PREFIX}2025/small.csv`, csv([['401', 'Open', '0001']]));
    const viaProxy = { ...env, S3_ENDPOINT: proxy.url };

    proxy.cutAfter(60_000, key);
    let result = await runCli(['run'], viaProxy);
    assert.equal(result.code, 3, explain(result));
    let summary = summaryOf(result);
    assert.equal(summary.files.loaded, 1, 'the run went on with the next object');
    assert.equal(summary.failed_files.length, 1);
    assert.equal(summary.failed_files[0]!.error_class, 'SOURCE_ERROR');
    assert.match(summary.failed_files[0]!.message, /^The download of s3:\/\/[^/]+\/Toshiba\/Historical Tickets\/2025\/big export\.csv was cut after \d+ of \d+ bytes \([^)]+\); the next run resumes it from there\.$/);
    let row = (await ledger(db.url)).get(key)!;
    assert.equal(row.status, 'failed');
    assert.equal(row.error_class, 'SOURCE_ERROR');
    assert.equal(row.attempts, 1);
    assert.equal(row.delay_seconds, 600);
    assert.equal(await statusOf('401'), 'Open');
    const kept = (await spoolFiles(stateDir)).filter((name) => name.endsWith('.part'));
    assert.equal(kept.length, 1, 'the partial download is kept');

    // Not due yet: the next run leaves it alone.
    result = await runCli(['run'], viaProxy);
    assert.equal(result.code, 3, `waiting, and still failed: ${explain(result)}`);
    assert.equal(summaryOf(result).files.waiting, 1);

    // Forced, and cut again: two attempts, the delay doubled.
    result = await runCli(['retry', key], env);
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /1 object\(s\) will be loaded by the next run\./);
    proxy.requests.length = 0;
    proxy.cutAfter(60_000, key);
    result = await runCli(['run'], viaProxy);
    assert.equal(result.code, 3, explain(result));
    row = (await ledger(db.url)).get(key)!;
    assert.equal(row.attempts, 2);
    assert.equal(row.delay_seconds, 1200);
    const firstResume = proxy.requests.find((request) => request.method === 'GET' && decodeURIComponent(request.url).includes(key));
    assert.match(firstResume?.range ?? '', /^bytes=\d+-$/, 'the second attempt already resumed');

    // etl retry --failed, no fault: the download resumes from the partial copy and the file loads.
    result = await runCli(['retry', '--failed'], env);
    assert.equal(result.code, 0, explain(result));
    proxy.requests.length = 0;
    result = await runCli(['run'], viaProxy);
    assert.equal(result.code, 0, explain(result));
    summary = summaryOf(result);
    assert.equal(summary.files.loaded, 1);
    const gets = proxy.requests.filter((request) => request.method === 'GET' && decodeURIComponent(request.url).includes(key));
    assert.equal(gets.length, 1, 'one GET for the rest of the object');
    assert.match(gets[0]!.range ?? '', /^bytes=\d+-$/);
    const from = Number(/^bytes=(\d+)-$/.exec(gets[0]!.range!)![1]);
    assert.ok(from > 60_000 && from < Buffer.byteLength(body), `resumed from byte ${from}`);
    assert.equal(gets[0]!.status, 206);
    row = (await ledger(db.url)).get(key)!;
    assert.equal(row.status, 'loaded');
    assert.equal(row.rows_loaded, rows.length);
    assert.equal(row.delay_seconds, null);
    const loaded = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM service_requests WHERE sr_number::bigint BETWEEN 500000 AND 505999`);
    assert.equal(Number(loaded[0]!.n), rows.length);
    assert.deepEqual(await spoolFiles(stateDir), []);
  });

  it('rides out a 503 storm during a run', async () => {
    await bucket.put(`${PREFIX}2025/after storm.csv`, csv([['601', 'Open', '0001']]));
    proxy.requests.length = 0;
    proxy.fail503(4, 'ServiceUnavailable');
    const result = await runCli(['run'], { ...env, S3_ENDPOINT: proxy.url });
    assert.equal(result.code, 0, explain(result));
    assert.equal(proxy.requests.filter((request) => request.action === '503').length, 4);
    assert.equal(summaryOf(result).files.loaded, 1);
    assert.equal(await statusOf('601'), 'Open');
  });

  it('resumes, with a ranged GET, a download whose run was killed (kill -9) in the middle', async () => {
    const key = '2026/killed mid download.csv';
    const rows = Array.from({ length: 4000 }, (_, i): [string, string, string] => [String(800000 + i), 'Open', '000777']);
    const body = csv(rows);
    await bucket.put(PREFIX + key, body);
    const viaProxy = { ...env, S3_ENDPOINT: proxy.url };
    proxy.stallAfter(50_000, key);
    const { child, done } = startCli(['run'], viaProxy);
    // Wait until the stalled download has put its 50,000 bytes on disk, then kill the run outright.
    const deadline = Date.now() + 60_000;
    let part: string | undefined;
    for (;;) {
      part = (await spoolFiles(stateDir)).find((name) => name.endsWith('.part'));
      if (part && (await stat(path.join(stateDir, 'tmp', part)).catch(() => undefined))?.size === 50_000) break;
      assert.ok(Date.now() < deadline, 'the download never reached 50,000 bytes');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill('SIGKILL');
    await done;
    proxy.clear();
    assert.equal((await ledger(db.url)).get(key), undefined, 'nothing recorded for the object');

    proxy.requests.length = 0;
    const result = await runCli(['run'], viaProxy);
    assert.equal(result.code, 0, explain(result));
    const gets = proxy.requests.filter((request) => request.method === 'GET' && decodeURIComponent(request.url).includes(key));
    assert.deepEqual(gets.map((request) => [request.range, request.status]), [['bytes=50000-', 206]]);
    const row = (await ledger(db.url)).get(key)!;
    assert.equal(row.status, 'loaded');
    assert.equal(row.rows_loaded, rows.length);
    assert.deepEqual(await spoolFiles(stateDir), []);
  });

  it('ends the run with exit 1 and one sentence for a missing bucket, wrong credentials or an unreachable endpoint', async () => {
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['missing bucket', { ETL_SOURCE: `s3://${bucket.name}-nope/${PREFIX}` }, /^The bucket etl-s3-incr-\S+-nope does not exist at http:\/\/127\.0\.0\.1:\d+ \(s3_bucket \/ ETL_SOURCE\)\.$/],
      [
        'wrong credentials',
        { AWS_ACCESS_KEY_ID: 'not-a-key', AWS_SECRET_ACCESS_KEY: 'not-the-secret-0123' },
        /^S3 rejected the credentials \(InvalidAccessKeyId\) while listing s3:\/\/.+: check aws_access_key_id \/ aws_secret_access_key \(AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY\)\.$/,
      ],
      [
        'unreachable endpoint',
        { S3_ENDPOINT: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '2' },
        /^Cannot reach S3 endpoint http:\/\/127\.0\.0\.1:9 while listing s3:\/\/.+ \(ECONNREFUSED\): check S3_ENDPOINT and the network\.$/,
      ],
    ];
    for (const [what, change, sentence] of cases) {
      for (const command of ['run', 'check']) {
        const result = await runCli([command], { ...env, ...change });
        assert.equal(result.code, 1, `${what}, etl ${command}: ${explain(result)}`);
        const errors = result.logs.filter((log) => log.level === 'error').map((log) => String(log.msg));
        assert.ok(errors.some((message) => sentence.test(message)), `${what}, etl ${command}: ${errors.join(' | ')}`);
        assert.ok(!result.stdout.includes('not-the-secret-0123') && !result.stderr.includes('not-the-secret-0123'));
        assert.ok(!result.stdout.includes(requireService('TEST_S3_SECRET_KEY')));
        assert.ok(!/\n\s+at /.test(result.stdout + result.stderr), 'no stack trace');
      }
    }
  });
});
