// Every run traced, read back from a real Jaeger (TEST_OTLP_ENDPOINT / TEST_JAEGER_URL, started by
// `npm run services:up`): the CLI runs as a child process with OTEL_EXPORTER_OTLP_ENDPOINT and a
// service name of its own, then Jaeger's query API must hold exactly the spans of that run.
// Also: log lines and the summary file point at the trace, a run that finds the lock taken has a
// short span that says so, SIGTERM still flushes, and a collector that is down or hangs changes
// neither the exit code nor (beyond the bound) the exit time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateExports, writeExports, type Expected } from '../src/sample/generator.ts';
import { RunLock } from '../src/load/lock.ts';
import { DEFAULT_FLUSH_TIMEOUT_MS } from '../src/telemetry/tracing.ts';
import { runCli, startCli, type CliResult } from './helpers/cli.ts';
import { freshDatabase, jaegerUrl, otlpEndpoint, type FreshDatabase } from './helpers/services.ts';
import { inError, parentOf, tags, type JaegerSpan, type JaegerTrace } from './helpers/jaeger.ts';
import { allJoined, query } from './helpers/db.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const tagsOf = (span: JaegerSpan) => tags(span.tags);
const uniqueService = (what: string) => `etl-test-${what}-${randomBytes(4).toString('hex')}`;

async function jaegerTraces(service: string): Promise<JaegerTrace[]> {
  const url = `${jaegerUrl()}/api/traces?service=${encodeURIComponent(service)}&limit=100&lookback=1h`;
  const response = await fetch(url);
  if (response.status === 404) return []; // Jaeger's "no traces (yet)"
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: JaegerTrace[] | null }).data ?? [];
}

/** Polls Jaeger until `ready` holds for the service's spans (they are sent at exit, stored shortly after). */
async function waitForSpans(service: string, ready: (spans: JaegerSpan[]) => boolean, timeoutMs = 30_000): Promise<JaegerTrace[]> {
  const deadline = Date.now() + timeoutMs;
  let traces: JaegerTrace[] = [];
  for (;;) {
    traces = await jaegerTraces(service);
    if (ready(traces.flatMap((trace) => trace.spans))) break;
    if (Date.now() > deadline) {
      const names = traces.flatMap((trace) => trace.spans.map((span) => span.operationName));
      assert.fail(`Jaeger at ${jaegerUrl()} has no complete trace for ${service} after ${timeoutMs} ms (spans: ${names.join(', ') || 'none'})`);
    }
    await sleep(300);
  }
  // No settle: the test Jaeger stores spans before it answers the export (no batch processor, no
  // queue: scripts/services.ts), and the CLI exits only after its export was answered, so every
  // span a finished run sent (a duplicate included) is in the answer above.
  return traces;
}

const count = (spans: JaegerSpan[], name: string) => spans.filter((span) => span.operationName === name).length;

/** Twice the error of span times (whole-millisecond starts, microseconds in Jaeger). */
const CLOCK_SLACK_US = 2000;

function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

function runEnv(db: FreshDatabase, source: string, stateDir: string, service: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ETL_SOURCE: source,
    DATABASE_URL: db.url,
    ETL_STATE_DIR: stateDir,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint(),
    // Jaeger takes traces only: a traces-only backend turns the run's metrics off (README, Tracing).
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_SERVICE_NAME: service,
    ...extra,
  };
}

interface SummaryRun {
  trace_id: string | null;
  status: string;
  files: { planned: number; loaded: number; failed: number; skipped: number };
}

function summaryRuns(stateDir: string): SummaryRun[] {
  const files = readdirSync(stateDir).filter((name) => /^pipeline_summary_\d{8}\.json$/.test(name));
  assert.equal(files.length, 1, `one summary file in ${stateDir}: ${files.join(', ')}`);
  return (JSON.parse(readFileSync(path.join(stateDir, files[0]!), 'utf8')) as { runs: SummaryRun[] }).runs;
}

describe('a run with one failing file, read back from Jaeger', () => {
  let db: FreshDatabase;
  let dir: string;
  let stateDir: string;
  let expected: Expected;
  let result: CliResult;
  let traces: JaegerTrace[];
  const service = uniqueService('run');

  before(async () => {
    // Fail, not skip, when the services are missing: these throw with the fix.
    jaegerUrl();
    otlpEndpoint();
    db = await freshDatabase({ prefix: 'tracing' });
    dir = tempDir('etl-trace-exports-');
    stateDir = tempDir('etl-trace-state-');
    // Variations on: among the objects, one whose header lacks SR Number, a 0-byte and a
    // header-only object, and non-data objects the run skips.
    const generated = generateExports({ seed: 61, files: 6, rowsPerFile: 40 });
    expected = generated.expected;
    await writeExports(dir, generated.objects);
    assert.equal(expected.files.filter((file) => file.status === 'failed').length, 1, 'the sample has exactly one failing object');
    result = await runCli(
      ['run'],
      runEnv(db, dir, stateDir, service, {
        ETL_LOG_FILES: 'true',
        OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=etl-29-abcde,k8s.namespace.name=data',
        JOB_NAME: 'etl-29',
      }),
    );
    traces = await waitForSpans(service, (spans) => count(spans, 'etl.run') >= 1 && count(spans, 'etl.file') >= expected.files.length);
  });
  after(async () => {
    await db?.drop();
    for (const folder of [dir, stateDir]) if (folder) rmSync(folder, { recursive: true, force: true });
  });

  test('the run exits 3 (a file failed) and tracing printed nothing', () => {
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stderr, '');
  });

  test('one trace: one etl.run span, etl.batch spans under it, one etl.file span per data object in a batch, exactly one of them in error, with its class', () => {
    assert.equal(traces.length, 1, `traces: ${traces.map((trace) => trace.traceID).join(', ')}`);
    const spans = traces[0]!.spans;
    const runs = spans.filter((span) => span.operationName === 'etl.run');
    const batches = spans.filter((span) => span.operationName === 'etl.batch');
    const files = spans.filter((span) => span.operationName === 'etl.file');
    assert.equal(runs.length, 1);
    assert.equal(files.length, expected.files.length);
    const run = runs[0]!;
    assert.equal(parentOf(run), undefined, 'etl.run is the root');
    assert.ok(batches.length >= 1 && batches.length < files.length, `the objects load in batches: ${batches.length} for ${files.length} objects`);
    for (const batch of batches) assert.equal(parentOf(batch), run.spanID, 'etl.batch is a child of etl.run');
    const batchIds = new Set(batches.map((batch) => batch.spanID));
    for (const file of files) assert.ok(batchIds.has(parentOf(file)!), 'etl.file is a child of an etl.batch');
    for (const batch of batches) {
      const inBatch = files.filter((file) => parentOf(file) === batch.spanID).length;
      assert.equal(tagsOf(batch)['etl.batch.objects'], inBatch, 'etl.batch.objects counts its files');
    }

    assert.deepEqual(files.map((span) => tagsOf(span)['etl.object.key']).sort(), expected.files.map((file) => file.key).sort());
    const failing = [run, ...batches, ...files].filter(inError);
    assert.equal(failing.length, 1, 'exactly one of the run, batch and file spans is in error: a failed object does not fail its batch');
    const failed = expected.files.find((file) => file.status === 'failed')!;
    const failedTags = tagsOf(failing[0]!);
    assert.equal(failedTags['etl.object.key'], failed.key);
    assert.equal(failedTags['etl.error.class'], 'MISSING_REQUIRED_COLUMNS');
    assert.equal(failedTags['etl.error.class'], failed.errorClass);
    const exception = failing[0]!.logs.map((log) => tags(log.fields)).find((fields) => fields.event === 'exception');
    assert.ok(exception, 'the failure is recorded as an exception event');
    assert.equal(exception['exception.type'], 'MISSING_REQUIRED_COLUMNS');
    assert.match(String(exception['exception.message']), /SR Number/);
  });

  test('etl.run and etl.file attributes: counts, key, size, version, rows', () => {
    const spans = traces[0]!.spans;
    const run = tagsOf(spans.find((span) => span.operationName === 'etl.run')!);
    const summary = summaryRuns(stateDir)[0]!;
    assert.equal(run['etl.files.planned'], expected.files.length);
    assert.equal(run['etl.files.loaded'], expected.files.length - 1);
    assert.equal(run['etl.files.failed'], 1);
    assert.equal(run['etl.files.skipped'], summary.files.skipped);
    assert.ok(summary.files.skipped > 0, 'the sample has non-data objects');
    assert.equal(run['etl.rows.read'], expected.rowsRead);
    assert.equal(run['etl.rows.loaded'], expected.rowsLoaded);
    assert.equal(run['etl.rows.quarantined'], expected.rowsQuarantined);
    assert.equal(run['etl.run.status'], 'failed');

    for (const file of expected.files) {
      const span = spans.find((candidate) => candidate.operationName === 'etl.file' && tagsOf(candidate)['etl.object.key'] === file.key)!;
      const attributes = tagsOf(span);
      assert.equal(attributes['etl.object.size'], statSync(path.join(dir, file.key)).size, file.key);
      assert.equal(typeof attributes['etl.object.version'], 'string');
      assert.notEqual(attributes['etl.object.version'], '');
      assert.equal(attributes['etl.rows.read'], file.rowsRead, file.key);
      assert.equal(attributes['etl.rows.quarantined'], file.rowsQuarantined, file.key);
      assert.equal(attributes['etl.rows.loaded'], file.status === 'loaded' ? file.rowsLoaded : 0, file.key);
      assert.equal(attributes['etl.file.status'], file.status, file.key);
    }
    // Skipped objects get no span.
    const keys = new Set(spans.map((span) => tagsOf(span)['etl.object.key']).filter((key) => key !== undefined));
    for (const skipped of expected.skipped) assert.equal(keys.has(skipped), false, `${skipped} has no span`);
  });

  test('each file has its reading as child spans (download, parse); its batch the copy, merge and record, in that order', () => {
    const spans = traces[0]!.spans;
    const inside = (child: JaegerSpan, parent: JaegerSpan) =>
      child.startTime >= parent.startTime && child.startTime + child.duration <= parent.startTime + parent.duration + CLOCK_SLACK_US;
    for (const file of spans.filter((span) => span.operationName === 'etl.file')) {
      const key = String(tagsOf(file)['etl.object.key']);
      const expectedFile = expected.files.find((candidate) => candidate.key === key)!;
      const children = spans.filter((span) => parentOf(span) === file.spanID);
      assert.deepEqual(children.map((span) => span.operationName).sort(), ['etl.download', 'etl.parse'], key);
      const byName = Object.fromEntries(children.map((span) => [span.operationName, span]));
      assert.equal(tagsOf(byName['etl.parse']!)['etl.rows.read'], expectedFile.rowsRead, key);
      assert.equal(inError(byName['etl.parse']!), expectedFile.status === 'failed', `${key}: etl.parse carries the error of a failed object`);
      // The SDK takes a span's start from Date.now() (whole milliseconds) and its end as start + a
      // monotonic duration, so an end can read up to 1 ms after a later span's start: CLOCK_SLACK_US.
      assert.ok(byName['etl.download']!.startTime + byName['etl.download']!.duration <= byName['etl.parse']!.startTime + CLOCK_SLACK_US, `${key}: download before parse`);
      for (const child of children) assert.ok(inside(child, file), `${child.operationName} inside etl.file`);
    }
    for (const batch of spans.filter((span) => span.operationName === 'etl.batch')) {
      const children = spans.filter((span) => parentOf(span) === batch.spanID);
      const files = children.filter((span) => span.operationName === 'etl.file');
      const keys = files.map((file) => String(tagsOf(file)['etl.object.key']));
      const expectedFiles = expected.files.filter((file) => keys.includes(file.key));
      const loaded = expectedFiles.filter((file) => file.status === 'loaded');
      const stages = children.filter((span) => span.operationName !== 'etl.file');
      const byName = Object.fromEntries(stages.map((span) => [span.operationName, span]));
      // No COPY when no object of the batch staged a row or a quarantined one (0 bytes, header
      // only, failed at the header); no merge when none loaded.
      const staged = loaded.some((file) => file.rowsRead > 0) || expectedFiles.some((file) => file.status === 'failed' && file.rowsQuarantined > 0);
      const wanted = [...(staged ? ['etl.copy'] : []), ...(loaded.length > 0 ? ['etl.merge'] : []), 'etl.record'];
      assert.deepEqual(stages.map((span) => span.operationName).sort(), wanted.sort(), keys.join(', '));
      if (byName['etl.copy']) assert.equal(tagsOf(byName['etl.copy'])['etl.copy.rows'], loaded.reduce((sum, file) => sum + file.rowsLoaded, 0), keys.join(', '));
      assert.equal(tagsOf(byName['etl.record']!)['etl.files.failed'], expectedFiles.length - loaded.length);
      const start = (name: string) => byName[name]!.startTime;
      const end = (name: string) => byName[name]!.startTime + byName[name]!.duration;
      const lastParse = Math.max(...files.map((file) => spans.find((span) => parentOf(span) === file.spanID && span.operationName === 'etl.parse')!).map((span) => span.startTime + span.duration));
      if (byName['etl.merge']) {
        assert.ok(start('etl.merge') + CLOCK_SLACK_US >= lastParse, 'the merge follows the reading of every object of the batch');
        if (byName['etl.copy']) assert.ok(start('etl.merge') + CLOCK_SLACK_US >= end('etl.copy'), 'merge after copy');
        assert.ok(start('etl.record') + CLOCK_SLACK_US >= end('etl.merge'), 'record after merge');
      }
      for (const child of children) assert.ok(inside(child, batch), `${child.operationName} inside etl.batch`);
    }
  });

  test('the resource: service name, version, Kubernetes names', () => {
    const processInfo = traces[0]!.processes[traces[0]!.spans[0]!.processID]!;
    assert.equal(processInfo.serviceName, service);
    const resource = tags(processInfo.tags);
    assert.equal(resource['service.version'], VERSION);
    assert.equal(resource['k8s.pod.name'], 'etl-29-abcde');
    assert.equal(resource['k8s.namespace.name'], 'data');
    assert.equal(resource['k8s.job.name'], 'etl-29');
  });

  test('every log line carries the trace id; lines of a file carry its etl.file span id; the summary file holds the trace id', () => {
    const traceId = traces[0]!.traceID.padStart(32, '0');
    assert.ok(result.logs.length > 5);
    for (const line of result.logs) assert.equal(line.trace_id, traceId, JSON.stringify(line));
    const fileSpans = new Map(traces[0]!.spans.filter((span) => span.operationName === 'etl.file').map((span) => [tagsOf(span)['etl.object.key'], span.spanID]));
    const fileLines = result.logs.filter((line) => line.msg === 'file loaded' || String(line.msg).startsWith('file failed'));
    assert.equal(fileLines.length, expected.files.length);
    for (const line of fileLines) assert.equal(line.span_id, fileSpans.get(line.object_key), `span_id of ${String(line.object_key)}`);
    const closing = result.logs.find((line) => line.summary !== undefined); // written after etl.run ended
    assert.ok(closing, 'the run summary line');
    assert.equal(closing.span_id, undefined);

    const runs = summaryRuns(stateDir);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.trace_id, traceId);
  });

  test('log files: etl_pipeline.log holds the lines of stdout, etl_errors.log only the errors', () => {
    const read = (name: string) =>
      readFileSync(path.join(stateDir, name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(read('etl_pipeline.log'), result.logs);
    const errors = read('etl_errors.log');
    assert.deepEqual(errors, result.logs.filter((line) => line.level === 'error' || line.level === 'fatal'));
    assert.ok(errors.some((line) => line.error_class === 'MISSING_REQUIRED_COLUMNS'));
  });
});

describe('runs that do not load everything', () => {
  let db: FreshDatabase;
  let dir: string;
  const stateDirs: string[] = [];

  before(async () => {
    jaegerUrl();
    otlpEndpoint();
    db = await freshDatabase({ prefix: 'tracing_stop' });
    dir = tempDir('etl-trace-big-');
    await writeExports(dir, generateExports({ seed: 62, files: 6, rowsPerFile: 4000, variations: false }).objects);
  });
  after(async () => {
    await db?.drop();
    for (const folder of [dir, ...stateDirs]) if (folder) rmSync(folder, { recursive: true, force: true });
  });
  const newStateDir = () => {
    const folder = tempDir('etl-trace-state-');
    stateDirs.push(folder);
    return folder;
  };

  test('a run that finds the lock taken has a short etl.run span that says so, and no file spans', async () => {
    const service = uniqueService('locked');
    const lock = await RunLock.tryAcquire(db.url);
    assert.ok(lock, 'the test takes the run lock');
    let result: CliResult;
    try {
      result = await runCli(['run'], runEnv(db, dir, newStateDir(), service));
    } finally {
      await lock.release();
    }
    assert.equal(result.code, 0, result.stderr);
    const spans = (await waitForSpans(service, (found) => count(found, 'etl.run') >= 1)).flatMap((trace) => trace.spans);
    assert.deepEqual(
      spans.map((span) => span.operationName),
      ['etl.run'],
    );
    const run = spans[0]!;
    assert.equal(tagsOf(run)['etl.run.lock_held_elsewhere'], true);
    assert.equal(tagsOf(run)['etl.run.status'], 'locked');
    assert.equal(inError(run), false);
    assert.ok(run.logs.some((log) => tags(log.fields).event === 'run lock held by another run'));
  });

  test('SIGTERM: the file in flight rolls back, and the spans are still sent before exit', async () => {
    const service = uniqueService('sigterm');
    const cli = startCli(['run'], runEnv(db, dir, newStateDir(), service));
    for await (const line of cli.lines) {
      if (line.msg === 'file loaded') {
        cli.child.kill('SIGTERM');
        break;
      }
    }
    const result = await cli.done;
    assert.equal(result.code, 1, `an aborted run exits 1: ${result.stderr}`);
    const loaded = result.logs.filter((line) => line.msg === 'file loaded').length;
    assert.ok(loaded >= 1 && loaded < 6, `stopped part way (${loaded} files loaded)`);
    const spans = (await waitForSpans(service, (found) => count(found, 'etl.run') >= 1)).flatMap((trace) => trace.spans);
    const run = spans.find((span) => span.operationName === 'etl.run')!;
    assert.equal(tagsOf(run)['etl.run.status'], 'aborted');
    assert.equal(inError(run), true, 'a stopped run is in error');
    assert.equal(tagsOf(run)['otel.status_description'], 'the run was stopped by a signal');
    assert.equal(tagsOf(run)['etl.files.loaded'], loaded);
    const files = spans.filter((span) => span.operationName === 'etl.file');
    assert.equal(files.filter((span) => tagsOf(span)['etl.file.status'] === 'loaded').length, loaded);
    // The files in flight (objects load a few at a time) have their spans too, marked as rolled back.
    const stopped = files.filter((span) => tagsOf(span)['etl.file.status'] !== 'loaded');
    assert.ok(stopped.length >= 1, 'the file in flight has its span');
    for (const span of stopped) {
      assert.equal(inError(span), true);
      assert.equal(tagsOf(span)['otel.status_description'], 'run stopped; the file was rolled back');
    }
  });

  for (const collector of ['closed', 'hanging'] as const) {
    test(`a collector that is ${collector === 'closed' ? 'down (closed port)' : 'up but never answers'}: the run exits 0, within the flush bound`, async (t) => {
      let endpoint: string;
      if (collector === 'closed') {
        const server = createServer();
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const { port } = server.address() as { port: number };
        await new Promise<void>((resolve) => server.close(() => resolve()));
        endpoint = `http://127.0.0.1:${port}`;
      } else {
        const sockets = new Set<Socket>();
        const server = createServer((socket) => {
          sockets.add(socket);
          socket.on('error', () => {});
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        t.after(() => {
          for (const socket of sockets) socket.destroy();
          server.close();
        });
        endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      }
      // A fresh database each time, so the run loads files and has spans to send.
      const fresh = await freshDatabase({ prefix: `tracing_${collector}` });
      t.after(() => fresh.drop());
      const small = tempDir('etl-trace-small-');
      t.after(() => rmSync(small, { recursive: true, force: true }));
      await writeExports(small, generateExports({ seed: 63, files: 3, rowsPerFile: 30, variations: false }).objects);
      const cli = startCli(['run'], runEnv(fresh, small, newStateDir(), uniqueService(collector), { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }));
      let summaryAt = 0;
      for await (const line of cli.lines) if (line.summary) summaryAt = Date.now();
      const result = await cli.done;
      const exitAfterMs = Date.now() - summaryAt;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(summaryAt > 0, 'the run wrote its summary line');
      assert.ok(exitAfterMs < DEFAULT_FLUSH_TIMEOUT_MS + 2000, `exited ${exitAfterMs} ms after the summary line`);
      const warnings = result.stderr.trim().split('\n').filter(Boolean);
      assert.equal(warnings.length, 1, result.stderr);
      assert.match(String((JSON.parse(warnings[0]!) as { msg: string }).msg), /^tracing: (could not send|gave up sending) the run's spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces/);
    });
  }
});

describe('a run shared by three workers (ETL_RUN_ID), read back from Jaeger', () => {
  let db: FreshDatabase;
  let source: string;
  let expected: Expected;
  const dirs: string[] = [];
  before(async () => {
    db = await freshDatabase({ prefix: 'tracing_shared' });
    source = tempDir('etl-trace-shared-');
    const generated = generateExports({ seed: 65, files: 12, rowsPerFile: 200, variations: false });
    expected = generated.expected;
    await writeExports(source, generated.objects);
  });
  after(async () => {
    await db?.drop();
    for (const dir of [source, ...dirs]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('is one trace: the workers\' etl.run spans are children of the planner\'s, with one etl.file span per object', async () => {
    const service = uniqueService('shared');
    const env = () => {
      const stateDir = tempDir('etl-trace-worker-');
      dirs.push(stateDir);
      return runEnv(db, source, stateDir, service, { ETL_RUN_ID: 'trace-job' });
    };
    assert.equal((await runCli(['migrate'], { DATABASE_URL: db.url })).code, 0);
    // None finishes a batch before all three have joined: a late one would find the run over.
    const results = await allJoined(db.url, 3, () => Promise.all([runCli(['run'], env()), runCli(['run'], env()), runCli(['run'], env())]));
    for (const result of results) assert.equal(result.code, 0, result.stdout + result.stderr);
    const [run] = await query<{ trace_id: string | null }>(db.url, 'SELECT trace_id FROM etl_runs');
    assert.ok(run?.trace_id, 'the run row names its trace');
    const traces = await waitForSpans(service, (spans) => count(spans, 'etl.run') === 3 && count(spans, 'etl.file') >= expected.files.length);
    assert.deepEqual(
      traces.map((trace) => trace.traceID),
      [run.trace_id],
      'every span of the three workers is in the run\'s trace',
    );
    const spans = traces[0]!.spans;
    const runs = spans.filter((span) => span.operationName === 'etl.run');
    const planner = runs.filter((span) => tagsOf(span)['etl.run.planned_here'] === true);
    assert.equal(planner.length, 1, 'one worker planned the run');
    assert.equal(parentOf(planner[0]!), undefined, 'the planner\'s span is the root');
    for (const span of runs.filter((span) => span !== planner[0])) assert.equal(parentOf(span), planner[0]!.spanID, 'a worker\'s span is a child of the planner\'s');
    assert.deepEqual(new Set(runs.map((span) => tagsOf(span)['etl.run.worker'])).size, 3, 'three workers');
    // Each object loaded once: one etl.file span per object, loaded.
    const files = spans.filter((span) => span.operationName === 'etl.file' && tagsOf(span)['etl.file.status'] === 'loaded');
    assert.deepEqual(files.map((span) => tagsOf(span)['etl.object.key']).sort(), expected.files.map((file) => file.key).sort());
  });
});
