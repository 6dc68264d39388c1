// Configuration as an operator meets it: the old settings.json, environment, precedence, and one
// clear sentence for a bad key or value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadSettings, normalizeDatabaseUrl, parseSource } from '../src/config/load.ts';
import { runCli } from './helpers/cli.ts';

function configFile(content: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'etl-config-'));
  const file = path.join(dir, 'settings.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

test('the old settings.json keys load unchanged, including postgresql+asyncpg://', () => {
  const file = configFile({
    s3_bucket: 'tgcs-raw-data',
    s3_folder: 'Toshiba/Historical Tickets',
    aws_access_key_id: 'AKIAEXAMPLE',
    aws_secret_access_key: 'secret-example',
    aws_region: 'us-east-2',
    pg_conn_string: 'postgresql+asyncpg://etl:pw@db.internal:5432/service?ssl=require',
  });
  const settings = loadSettings({ configFile: file, env: {} });
  assert.deepEqual(settings.source, { kind: 's3', bucket: 'tgcs-raw-data', prefix: 'Toshiba/Historical Tickets/' });
  assert.equal(settings.databaseUrl, 'postgresql://etl:pw@db.internal:5432/service?sslmode=require');
  assert.deepEqual(settings.s3.credentials, { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret-example' });
  assert.equal(settings.s3.region, 'us-east-2');
});

test('environment beats the file, arguments beat the environment', () => {
  const file = configFile({ state_dir: '/from/file', log_level: 'warn' });
  const settings = loadSettings({ configFile: file, env: { ETL_STATE_DIR: '/from/env', LOG_LEVEL: 'debug' }, args: ['--log-level', 'error'] });
  assert.equal(settings.stateDir, '/from/env');
  assert.equal(settings.logLevel, 'error');
});

test('ETL_CONFIG names the file when --config is absent', () => {
  const file = configFile({ source: '/data/exports' });
  assert.deepEqual(loadSettings({ env: { ETL_CONFIG: file } }).source, { kind: 'local', dir: '/data/exports' });
});

test('sources: s3:// with a spaced prefix, file://, a plain path', () => {
  assert.deepEqual(parseSource('s3://tgcs-raw-data/Toshiba/Historical Tickets/', '', ''), { kind: 's3', bucket: 'tgcs-raw-data', prefix: 'Toshiba/Historical Tickets/' });
  assert.deepEqual(parseSource('s3://bucket', '', ''), { kind: 's3', bucket: 'bucket', prefix: '' });
  assert.deepEqual(parseSource('file:///srv/exports%20old', '', ''), { kind: 'local', dir: '/srv/exports old' });
  assert.deepEqual(parseSource('./exports', '', ''), { kind: 'local', dir: './exports' });
  assert.throws(() => parseSource('ftp://host/dir', '', ''), /unsupported scheme/);
});

test('booleans from the environment mean what they say', () => {
  assert.equal(loadSettings({ env: { S3_FORCE_PATH_STYLE: '0' } }).s3.forcePathStyle, false);
  assert.equal(loadSettings({ env: { S3_FORCE_PATH_STYLE: 'false' } }).s3.forcePathStyle, false);
  assert.equal(loadSettings({ env: { S3_FORCE_PATH_STYLE: 'true' } }).s3.forcePathStyle, true);
  assert.throws(() => loadSettings({ env: { S3_FORCE_PATH_STYLE: 'maybe' } }), (error: Error) => error instanceof ConfigError && /s3_force_path_style \(S3_FORCE_PATH_STYLE\)/.test(error.message));
});

test('an unknown key in the file is named, with the file', () => {
  const file = configFile({ s3_bucket: 'b', s3_buckett: 'typo' });
  assert.throws(
    () => loadSettings({ configFile: file, env: {} }),
    (error: Error) => error instanceof ConfigError && error.message.includes('"s3_buckett"') && error.message.includes(file),
  );
});

test('a bad value names its key and never echoes a secret', () => {
  assert.throws(
    () => loadSettings({ env: { DATABASE_URL: 'mysql://root:hunter2@db/x' } }),
    (error: Error) => error instanceof ConfigError && /pg_conn_string \(DATABASE_URL\)/.test(error.message) && !error.message.includes('hunter2'),
  );
  assert.throws(() => loadSettings({ env: { ETL_REJECT_THRESHOLD: '1.5' } }), /reject_threshold \(ETL_REJECT_THRESHOLD\) must be a number from 0 to 1/);
});

test('normalizeDatabaseUrl keeps plain URLs as they are', () => {
  assert.equal(normalizeDatabaseUrl('postgres://a:b@h/d'), 'postgres://a:b@h/d');
  assert.equal(normalizeDatabaseUrl('postgresql+asyncpg://a:b@h/d'), 'postgresql://a:b@h/d');
});

test('the CLI exits 2 with one sentence for bad configuration', async () => {
  const file = configFile({ s3_bucket: 'b', colour: 'blue' });
  const result = await runCli(['run', '--config', file], {});
  assert.equal(result.code, 2);
  assert.match(result.stderr.trim(), /^etl: Unknown configuration key "colour" in .*: remove it or fix its spelling\.$/);
  const missing = await runCli(['run', '--config', '/nonexistent/settings.json'], {});
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /The config file \/nonexistent\/settings.json does not exist/);
});

test('the CLI exits 2 when no source is configured, naming the keys', async () => {
  const result = await runCli(['run'], { DATABASE_URL: 'postgresql://u:p@127.0.0.1:1/x' });
  assert.equal(result.code, 2);
  assert.match(result.stdout + result.stderr, /No source is configured: set source \(ETL_SOURCE\)/);
});
