// npm run bench:big-object [-- --mb 1024]
//
// Peak RSS of `etl run` reading one large object from S3 (the MinIO of `npm run services:up`),
// against the same run on a small object, measured in the same run: memory must stay flat
// whatever the object size (the object is spooled to the state dir and streamed, never buffered).
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { generateExports } from '../src/sample/generator.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const RSS = fileURLToPath(new URL('./usage.ts', import.meta.url));

const { values } = parseArgs({ options: { mb: { type: 'string', default: '1024' } } });
const targetBytes = Number(values.mb) * 1024 * 1024;

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run \`npm run services:up && source .services.env\` first`);
  return value;
}

const endpoint = need('TEST_S3_ENDPOINT');
const credentials = { accessKeyId: need('TEST_S3_ACCESS_KEY'), secretAccessKey: need('TEST_S3_SECRET_KEY') };
const adminUrl = need('TEST_DATABASE_URL');
const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
const bucket = `bench-big-${process.pid}`;
const work = mkdtempSync(path.join(tmpdir(), 'etl-big-'));

try {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // One clean generated object; its data lines are repeated to reach the size.
  const { objects } = generateExports({ seed: 5, files: 1, rowsPerFile: 20_000, variations: false });
  const text = objects.find((object) => object.data)!.body.toString('utf8');
  const newline = text.indexOf('\n');
  const header = text.slice(0, newline + 1);
  const body = text.slice(newline + 1).replace(/\n?$/, '\n');
  const small = path.join(work, 'small.csv');
  const big = path.join(work, 'big.csv');
  await writeRepeated(small, header, body, 10 * 1024 * 1024);
  await writeRepeated(big, header, body, targetBytes);

  const results: string[] = [];
  for (const [name, file] of [
    ['small', small],
    ['big', big],
  ] as const) {
    const key = `${name}/export.csv`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(file), ContentLength: statSync(file).size }));
    const db = `bench_big_${name}_${process.pid}`;
    await admin(`CREATE DATABASE ${db}`);
    const url = new URL(adminUrl);
    url.pathname = `/${db}`;
    const started = performance.now();
    const run = await runEtl({
      ETL_SOURCE: `s3://${bucket}/${name}/`,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      DATABASE_URL: url.toString(),
      ETL_STATE_DIR: path.join(work, `state-${name}`),
    });
    const seconds = (performance.now() - started) / 1000;
    const rowsRead = await rowsReadIn(url.toString());
    await admin(`DROP DATABASE ${db} WITH (FORCE)`);
    if (run.code !== 0) throw new Error(`etl run on the ${name} object exited ${run.code}: ${run.stderr.slice(-1500)}`);
    if (rowsRead === 0) throw new Error(`etl run read no rows from s3://${bucket}/${key}: the benchmark measured nothing`);
    results.push(
      `${name.padEnd(6)} ${(statSync(file).size / 1e6).toFixed(0).padStart(6)} MB   ${rowsRead} rows   peak RSS ${Math.round(run.maxRssKb / 1024)} MiB   ${seconds.toFixed(1)} s`,
    );
  }
  process.stdout.write(results.join('\n') + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
  s3.destroy();
}

async function writeRepeated(file: string, header: string, body: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(header);
  for (let written = header.length; written < bytes; written += Buffer.byteLength(body)) {
    if (!out.write(body)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function rowsReadIn(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query('SELECT coalesce(sum(rows_read), 0) AS n FROM etl_files')).rows[0].n);
  } finally {
    await client.end();
  }
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function runEtl(env: Record<string, string>): Promise<{ code: number | null; maxRssKb: number; stderr: string }> {
  const child = spawn(process.execPath, ['--import', RSS, MAIN, 'run'], {
    env: { PATH: process.env.PATH, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, maxRssKb: Number(/BENCH_MAX_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? 0), stderr };
}
