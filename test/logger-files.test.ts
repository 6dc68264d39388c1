// Log files on the state dir: etl_pipeline.log (every line, rotated by size), etl_errors.log
// (errors only), JSON lines with the trace fields, and a folder that cannot be written does not
// stop the program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { ERRORS_LOG, logFileStreams, PIPELINE_LOG, RotatingFile } from '../src/telemetry/log-files.ts';

const run = promisify(execFile);
const LOGGER = new URL('../src/telemetry/logger.ts', import.meta.url).href;
const START = new URL('../src/telemetry/start.ts', import.meta.url).href;
const SPANS = new URL('../src/telemetry/spans.ts', import.meta.url).href;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'etl-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('RotatingFile rotates before a file passes maxBytes and keeps `keep` old files', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'x.log');
  writeFileSync(file, 'existing line\n'); // appends to what is there
  const out = new RotatingFile(file, { maxBytes: 100, keep: 2 });
  const line = (n: number) => `line ${String(n).padStart(4, '0')} ${'.'.repeat(29)}\n`; // 40 bytes
  for (let n = 0; n < 20; n++) out.write(line(n));
  out.end();
  assert.deepEqual(readdirSync(dir).sort(), ['x.log', 'x.log.1', 'x.log.2']);
  for (const name of ['x.log', 'x.log.1', 'x.log.2']) assert.ok(statSync(path.join(dir, name)).size <= 100, `${name} is at most 100 bytes`);
  // The newest lines are in x.log, the ones before in .1, then .2; older ones are gone.
  assert.equal(readFileSync(file, 'utf8'), line(18) + line(19));
  assert.equal(readFileSync(`${file}.1`, 'utf8'), line(16) + line(17));
  assert.equal(readFileSync(`${file}.2`, 'utf8'), line(14) + line(15));
});

test('a line larger than maxBytes still goes into a file of its own', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'big.log');
  const out = new RotatingFile(file, { maxBytes: 10, keep: 1 });
  out.write('a'.repeat(25) + '\n');
  out.write('b\n');
  out.end();
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'a'.repeat(25) + '\n');
  assert.equal(readFileSync(file, 'utf8'), 'b\n');
});

test('etl_pipeline.log gets every line at the level, etl_errors.log only errors and fatals', (t) => {
  const dir = path.join(tempDir(t), 'state', 'nested'); // created when missing
  const logger = pino({ level: 'info', base: undefined }, pino.multistream(logFileStreams({ dir }, 'info'), { dedupe: false }));
  logger.debug('not written');
  logger.info({ object_key: 'a.csv' }, 'file loaded');
  logger.warn('a warning');
  logger.error({ error_class: 'MISSING_REQUIRED_COLUMNS' }, 'file failed');
  logger.fatal('the end');
  assert.deepEqual(
    lines(path.join(dir, PIPELINE_LOG)).map((line) => line.msg),
    ['file loaded', 'a warning', 'file failed', 'the end'],
  );
  const errors = lines(path.join(dir, ERRORS_LOG));
  assert.deepEqual(
    errors.map((line) => line.msg),
    ['file failed', 'the end'],
  );
  assert.equal(errors[0]!.error_class, 'MISSING_REQUIRED_COLUMNS');
});

test('createLogger with logFiles writes both files as JSON lines carrying trace_id and span_id inside a span', async (t) => {
  const dir = tempDir(t);
  const script = `
    import ${JSON.stringify(START)};
    import { createLogger } from ${JSON.stringify(LOGGER)};
    import { tracer } from ${JSON.stringify(SPANS)};
    const logger = createLogger({ level: 'info', format: 'json', logFiles: { dir: ${JSON.stringify(dir)} } });
    logger.info('before any span');
    tracer.startActiveSpan('etl.run', (span) => { logger.error('inside'); span.end(); });
  `;
  const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH } });
  assert.equal(stderr, '');
  const file = lines(path.join(dir, PIPELINE_LOG));
  assert.deepEqual(file.map((line) => line.msg), ['before any span', 'inside']);
  assert.equal(file[0]!.trace_id, undefined, 'no trace before a run');
  assert.match(String(file[1]!.trace_id), /^[0-9a-f]{32}$/);
  assert.match(String(file[1]!.span_id), /^[0-9a-f]{16}$/);
  assert.deepEqual(lines(path.join(dir, ERRORS_LOG)), [file[1]]);
  // stdout gets the same lines.
  assert.deepEqual(stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown), file);
});

test('a state dir that cannot be written: a warning on stderr, logging goes on to stdout', async (t) => {
  // A path below a regular file cannot be created, even by root (a read-only folder could be).
  const dir = tempDir(t);
  const blocker = path.join(dir, 'not-a-folder');
  writeFileSync(blocker, '');
  const script = `
    import { createLogger } from ${JSON.stringify(LOGGER)};
    const logger = createLogger({ level: 'info', format: 'json', logFiles: { dir: ${JSON.stringify(path.join(blocker, 'state'))} } });
    logger.info('still logging');
  `;
  const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH } });
  assert.equal((JSON.parse(stdout) as { msg: string }).msg, 'still logging');
  assert.match(stderr, /cannot create .*not-a-folder\/state for the log files/);
  assert.equal(existsSync(path.join(blocker, 'state')), false);
});
