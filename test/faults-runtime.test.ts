// Faults around the run itself: SIGTERM (Kubernetes stopping the pod) during an S3 download and
// during a merge, a state dir on a tiny file system that an object does not fit, and secrets that
// must not leave the process in any form. Each ends with an exit code, one sentence, every object
// accounted for, and a next run that completes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateExports, writeExports } from '../src/sample/generator.ts';
import { runCli, startCli, type CliResult } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { startFaultProxy } from './helpers/fault-proxy.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';
import { createTestBucket, s3Env } from './helpers/s3.ts';
import { databaseUrl, freshDatabase, jaegerUrl, otlpEndpoint, requireService } from './helpers/services.ts';
import type { JaegerTrace } from './helpers/jaeger.ts';

const PREFIX = 'Toshiba/Historical Tickets/';

function assertNoStackTrace(result: CliResult): void {
  const output = result.stdout + result.stderr;
  assert.doesNotMatch(output, /\n\s+at |Unhandled|TypeError|ReferenceError/, `a stack trace or a crash:\n${output.slice(-3000)}`);
}

const summaryOf = (result: CliResult) => result.logs.find((line) => line.summary !== undefined)?.summary as { status: string } | undefined;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `${what} did not happen within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('SIGTERM stops the run within the grace period', () => {
  it('during an S3 download: exit 1 in seconds, the run row aborted, the partial copy kept; the next run resumes and completes', async (t) => {
    const bucket = await createTestBucket('etl-sigterm');
    const db = await freshDatabase({ prefix: 'sigterm_download' });
    const stateDir = await mkdtemp(path.join(tmpdir(), 'etl-sigterm-'));
    const proxy = await startFaultProxy(requireService('TEST_S3_ENDPOINT'));
    t.after(async () => {
      await proxy.close();
      await db.drop();
      await bucket.drop();
      await rm(stateDir, { recursive: true, force: true });
    });
    const { objects, expected } = generateExports({ seed: 404, files: 3, rowsPerFile: 2000, variations: false });
    for (const object of objects) await bucket.put(PREFIX + object.key, object.body);
    const env = { ...s3Env(bucket.name, PREFIX, proxy.url), DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
    const stalled = objects[1]!.key;
    proxy.stallAfter(50_000, stalled);
    const run = startCli(['run'], env);
    await waitFor('the stalled download', async () => {
      const parts = (await readdir(path.join(stateDir, 'tmp')).catch(() => [])).filter((name) => name.endsWith('.part'));
      for (const part of parts) if ((await stat(path.join(stateDir, 'tmp', part))).size === 50_000) return part;
      return undefined;
    });
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const result = await run.done;
    const seconds = (Date.now() - signalled) / 1000;
    proxy.clear();
    assert.equal(result.code, 1, result.stdout.slice(-2000));
    assert.ok(seconds < 10, `exited ${seconds} s after SIGTERM`);
    assertNoStackTrace(result);
    assert.equal(summaryOf(result)?.status, 'aborted', result.stdout.slice(-4000));
    assert.ok(result.logs.some((line) => line.level === 'error' && line.msg === 'the run was stopped by a signal'), 'one sentence says why');
    const [row] = await query<{ status: string }>(db.url, 'SELECT status FROM etl_runs');
    assert.equal(row!.status, 'aborted');
    assert.equal((await query(db.url, 'SELECT 1 FROM etl_files WHERE object_key = $1', [stalled])).length, 0, 'nothing recorded for the object being downloaded');
    assert.ok((await readdir(path.join(stateDir, 'tmp'))).some((name) => name.endsWith('.part')), 'the partial download is kept to be resumed');

    proxy.requests.length = 0;
    const rerun = await runCli(['run'], env);
    assert.equal(rerun.code, 0, rerun.stdout.slice(-2000));
    const gets = proxy.requests.filter((request) => request.method === 'GET' && decodeURIComponent(request.url).includes(stalled));
    assert.deepEqual(gets.map((request) => request.range), ['bytes=50000-'], 'the download resumed where it stopped');
    await assertMatchesOracle(db.url, expected, 'after the next run');
  });

  it('during a merge (an upsert, or the COPY of new keys into a table): the statement is cancelled, the objects rolled back, exit 1 in seconds; the next run completes', async (t) => {
    const db = await freshDatabase({ prefix: 'sigterm_merge' });
    const dir = await mkdtemp(path.join(tmpdir(), 'etl-sigterm-merge-'));
    const stateDir = await mkdtemp(path.join(tmpdir(), 'etl-sigterm-merge-state-'));
    t.after(async () => {
      await db.drop();
      await rm(dir, { recursive: true, force: true });
      await rm(stateDir, { recursive: true, force: true });
    });
    const { objects, expected } = generateExports({ seed: 405, files: 3, rowsPerFile: 30_000, variations: false });
    await writeExports(dir, objects);
    const env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir, ETL_LOAD_CONCURRENCY: '1' };
    const run = startCli(['run'], env);
    await waitFor('a merge', async () => {
      const rows = await query<{ pid: number }>(
        databaseUrl(),
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'etl-load' AND state = 'active' AND (query LIKE 'INSERT INTO%' OR query ~ '^COPY (service_requests|tasks|parts_used|sr_notes) ')`,
        [db.name],
      );
      return rows[0];
    });
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const result = await run.done;
    const seconds = (Date.now() - signalled) / 1000;
    assert.equal(result.code, 1);
    assert.ok(seconds < 10, `exited ${seconds} s after SIGTERM`);
    assertNoStackTrace(result);
    const rolledBack = result.logs.find((line) => line.msg === 'run stopped: the file in flight was rolled back');
    assert.ok(rolledBack, 'the object being merged was rolled back (its merge cancelled, not waited for)');
    assert.equal((await query(db.url, 'SELECT 1 FROM etl_files WHERE object_key = $1', [rolledBack.object_key])).length, 0);
    assert.equal((await query<{ status: string }>(db.url, 'SELECT status FROM etl_runs'))[0]!.status, 'aborted');
    const rerun = await runCli(['run'], env);
    assert.equal(rerun.code, 0);
    await assertMatchesOracle(db.url, expected, 'after the next run');
  });
});

describe('a state dir on a tiny file system, and an S3 object larger than it', () => {
  let mount = '';
  before(async () => {
    mount = await mkdtemp(path.join(tmpdir(), 'etl-tiny-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mount], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      throw new Error(`mounting a 2 MB tmpfs at ${mount} failed (${mounted.stderr.trim()}): this test needs root (CI runs as root); run the tests as root`);
    }
  });
  after(async () => {
    if (!mount) return;
    spawnSync('umount', [mount]);
    await rm(mount, { recursive: true, force: true });
  });

  it('the big object fails as SOURCE_ERROR naming state_dir, its partial copy is removed, the others load; nothing stays full', async (t) => {
    const bucket = await createTestBucket('etl-tiny');
    const db = await freshDatabase({ prefix: 'tiny_state' });
    t.after(async () => {
      await db.drop();
      await bucket.drop();
    });
    const small = generateExports({ seed: 406, files: 3, rowsPerFile: 60, variations: false });
    const big = generateExports({ seed: 407, files: 1, rowsPerFile: 12_000, variations: false, prefix: 'big/' }).objects[0]!;
    assert.ok(big.body.length > 3 * 1024 * 1024, `the big object is ${big.body.length} bytes`);
    for (const object of [...small.objects, big]) await bucket.put(PREFIX + object.key, object.body);
    const env = { ...s3Env(bucket.name, PREFIX), DATABASE_URL: db.url, ETL_STATE_DIR: mount, ETL_LOAD_CONCURRENCY: '1' };
    const result = await runCli(['run'], env);
    assert.equal(result.code, 3, result.stdout.slice(-2000));
    assertNoStackTrace(result);
    const [failed] = await query<{ status: string; error_class: string; error_message: string }>(db.url, 'SELECT status, error_class, error_message FROM etl_files WHERE object_key = $1', [big.key]);
    assert.equal(failed!.status, 'failed');
    assert.equal(failed!.error_class, 'SOURCE_ERROR');
    assert.match(failed!.error_message, new RegExp(`^Cannot write the download of s3://.+/${big.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+ bytes\\) to ${mount}/tmp: ENOSPC \\(no space left on the device\\); the partial copy was removed\\. Give state_dir \\(the PVC\\) room`));
    await assertMatchesOracle(db.url, small.expected, 'the objects that fit', { objects: new Set(small.expected.files.map((file) => file.key)) });
    assert.deepEqual((await readdir(path.join(mount, 'tmp'))).filter((name) => name.endsWith('.part') || name.endsWith('.data')), [], 'no copy left on the volume');
    const space = await statfs(mount);
    assert.ok(space.bavail * space.bsize > 1.5 * 1024 * 1024, 'the volume has room again');
    const summaries = (await readdir(mount)).filter((name) => name.startsWith('pipeline_summary_'));
    assert.equal(summaries.length, 1, 'the run summary was written after the space was freed');
    assert.equal(((await stat(path.join(mount, summaries[0]!))).mode & 0o777).toString(8), '600');

    // The next run: the failed object waits its retry delay; forced with etl retry, it fails the same way, cleanly.
    const before = await snapshot(db.url);
    const second = await runCli(['run'], env);
    assert.equal(second.logs.find((line) => line.msg === 'run planned')?.to_load, 0);
    assert.deepEqual(await snapshot(db.url), before);
    assert.equal((await runCli(['retry', big.key], env)).code, 0);
    const forced = await runCli(['run'], env);
    assertNoStackTrace(forced);
    assert.equal((await query<{ attempts: number }>(db.url, 'SELECT attempts FROM etl_files WHERE object_key = $1', [big.key]))[0]!.attempts, 2);
  });
});

describe('secrets never leave the process', () => {
  const SECRET = 'Xy9-never-print-me-7Qz';
  let role = '';
  before(async () => {
    role = `etl_secret_${process.pid}`;
    await query(databaseUrl(), `CREATE ROLE ${role} LOGIN PASSWORD '${SECRET}'`);
  });
  after(async () => {
    await query(databaseUrl(), `DROP ROLE IF EXISTS ${role}`).catch(() => {});
  });

  it('in logs, errors, summaries, etl check, etl status and the spans, whatever URL form carries the password', async (t) => {
    const db = await freshDatabase({ prefix: 'secrets' });
    await query(databaseUrl(), `ALTER DATABASE ${db.name} OWNER TO ${role}`);
    const dir = await mkdtemp(path.join(tmpdir(), 'etl-secrets-'));
    const stateDir = await mkdtemp(path.join(tmpdir(), 'etl-secrets-state-'));
    t.after(async () => {
      await db.drop();
      await rm(dir, { recursive: true, force: true });
      await rm(stateDir, { recursive: true, force: true });
    });
    await writeExports(dir, generateExports({ seed: 408, files: 6, rowsPerFile: 20 }).objects); // with a failing object
    const server = new URL(databaseUrl());
    const base = `postgresql://${role}@${server.host}/${db.name}`;
    const forms = [
      `postgresql://${role}:${SECRET}@${server.host}/${db.name}`,
      `${base}?password=${SECRET}`,
      `${base}?sslmode=disable&password=${encodeURIComponent(SECRET)}&application_name=x`,
      `postgresql+asyncpg://${role}:${SECRET}@${server.host}/${db.name}`,
    ];
    const service = `etl-secrets-${process.pid}`;
    const outputs: string[] = [];
    for (const url of forms) {
      const env = { ETL_SOURCE: dir, DATABASE_URL: url, ETL_STATE_DIR: stateDir, OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint(), OTEL_SERVICE_NAME: service, LOG_LEVEL: 'debug' };
      for (const command of [['check'], ['run'], ['status', '--json'], ['rejects']]) {
        const result = await runCli(command, env);
        outputs.push(`${command.join(' ')} with ${url.replace(SECRET, '<secret>')}: ${result.stdout}${result.stderr}`);
        if (command[0] === 'check') assert.equal(result.code, 0, result.stdout + result.stderr);
      }
      // The same URLs pointing at a port where nothing listens: the error names the database.
      const unreachable = url.replace(server.host, '127.0.0.1:1');
      const failed = await runCli(['run'], { ...env, DATABASE_URL: unreachable });
      assert.equal(failed.code, 1);
      assert.match(failed.stdout + failed.stderr, /Cannot connect to the database at postgresql:\/\/[^ ]*127\.0\.0\.1:1/);
      outputs.push(failed.stdout + failed.stderr);
    }
    for (const output of outputs) assert.ok(!output.includes(SECRET) && !output.includes(encodeURIComponent(SECRET)), `the password is printed:\n${output.slice(0, 2000)}`);
    for (const file of await readdir(stateDir)) {
      if (!file.endsWith('.json')) continue;
      assert.ok(!(await readFile(path.join(stateDir, file), 'utf8')).includes(SECRET), `${file} holds the password`);
    }
    const runs = await query<{ summary: unknown }>(db.url, 'SELECT summary FROM etl_runs');
    assert.ok(runs.length > 0 && !JSON.stringify(runs).includes(SECRET), 'etl_runs holds the password');
    // Every span, tag and event the runs sent to Jaeger.
    const traces = await waitFor('the runs in Jaeger', async () => {
      const response = await fetch(`${jaegerUrl()}/api/traces?service=${service}&limit=50&lookback=1h`);
      if (!response.ok) return undefined;
      const { data } = (await response.json()) as { data: JaegerTrace[] };
      return data.length >= forms.length ? data : undefined;
    });
    assert.ok(!JSON.stringify(traces).includes(SECRET), 'a span holds the password');
    assert.ok(JSON.stringify(traces).includes('etl.run'), 'the spans were read back');
  });
});
