// The S3 source against the real MinIO (TEST_S3_*): listing past one page, keys with spaces,
// the local spool and its reuse, a download cut mid-body and resumed with a ranged GET, a changed
// ETag starting over, a 503 storm, and the one-sentence errors. Faults come from a small proxy
// in front of MinIO (test/helpers/fault-proxy.ts), never from a mock.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { S3Source, type S3SourceOptions } from '../src/sources/s3.ts';
import { SourceError, type LocalCopy, type SourceObject } from '../src/sources/source.ts';
import { Spool } from '../src/sources/spool.ts';
import { createTestBucket, type TestBucket } from './helpers/s3.ts';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.ts';
import { requireService } from './helpers/services.ts';

const PREFIX = 'Toshiba/Historical Tickets/';

let bucket: TestBucket;
let proxy: FaultProxy;
let stateDir: string;

function source(overrides: Partial<S3SourceOptions> = {}): S3Source {
  return new S3Source({
    bucket: bucket.name,
    prefix: PREFIX,
    region: 'us-east-1',
    endpoint: proxy.url,
    forcePathStyle: true,
    credentials: { accessKeyId: requireService('TEST_S3_ACCESS_KEY'), secretAccessKey: requireService('TEST_S3_SECRET_KEY') },
    stateDir,
    ...overrides,
  });
}

/** The local copies handed out, to release as a load does when it ends. */
const copies = new Map<SourceObject, LocalCopy>();

/** The object's bytes through its local copy, as the parse worker reads them. */
async function readCopy(s3: S3Source, object: SourceObject): Promise<Buffer> {
  const copy = await s3.localCopy(object);
  copies.set(object, copy);
  return readFile(copy.path);
}

/** The load of the object has ended. */
async function releaseCopy(object: SourceObject): Promise<void> {
  await copies.get(object)?.release();
  copies.delete(object);
}

async function listed(s3: S3Source, key: string): Promise<SourceObject> {
  const object = (await s3.list()).find((candidate) => candidate.key === key);
  assert.ok(object, `${key} is listed`);
  return object;
}

const getsOf = (key: string) => proxy.requests.filter((request) => request.method === 'GET' && decodeURIComponent(request.url.split('?')[0]!).endsWith(key));
const spoolFiles = async () => (await readdir(path.join(stateDir, 'tmp')).catch(() => [] as string[])).sort();

before(async () => {
  bucket = await createTestBucket('etl-s3-source');
  proxy = await startFaultProxy(requireService('TEST_S3_ENDPOINT'));
  stateDir = await mkdtemp(path.join(tmpdir(), 'etl-s3-source-'));
});

after(async () => {
  await proxy?.close();
  await bucket?.drop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('S3Source on MinIO', () => {
  it('lists more than one page of objects under a prefix with a space, keys relative, ETag as version', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ key: `${PREFIX}many/file ${String(i).padStart(4, '0')}.csv`, body: `x${i}` }));
    await bucket.putMany([...many, { key: 'Toshiba/Other/outside.csv', body: 'no' }], 48);
    const s3 = source();
    proxy.requests.length = 0;
    const objects = await s3.list();
    await s3.close();
    const keys = objects.map((object) => object.key).filter((key) => key.startsWith('many/'));
    assert.equal(keys.length, 1001);
    assert.ok(keys.includes('many/file 1000.csv'));
    assert.ok(!objects.some((object) => object.key.includes('outside')), 'nothing outside the prefix');
    const lists = proxy.requests.filter((request) => request.url.includes('list-type=2'));
    assert.ok(lists.length >= 2, `listing took ${lists.length} pages`);
    const one = objects.find((object) => object.key === 'many/file 0001.csv')!;
    assert.match(one.version, /^[0-9a-f]{32}$/, 'the ETag, unquoted');
    assert.equal(one.size, 2);

    // A small page size walks many pages to the same result.
    const paged = source({ pageSize: 250 });
    assert.equal((await paged.list()).filter((object) => object.key.startsWith('many/')).length, 1001);
    await paged.close();
  });

  it('spools an object to state_dir/tmp, hands it out twice with one GET, and release removes the copy', async () => {
    const body = randomBytes(300_000);
    const key = 'spool/a key with spaces.csv';
    await bucket.put(PREFIX + key, body);
    const s3 = source();
    const object = await listed(s3, key);
    proxy.requests.length = 0;
    assert.deepEqual(await readCopy(s3, object), body);
    assert.deepEqual(await readCopy(s3, object), body);
    assert.equal(getsOf(key).length, 1, 'the second local copy is the spooled one');
    assert.equal(getsOf(key)[0]!.ifMatch, `"${object.version}"`, 'the GET is pinned to the listed ETag');
    const id = Spool.id(bucket.name, PREFIX + key);
    assert.deepEqual(await spoolFiles(), [`s3-${id}.data`, `s3-${id}.json`]);
    const sidecar = JSON.parse(await readFile(path.join(stateDir, 'tmp', `s3-${id}.json`), 'utf8')) as Record<string, string>;
    assert.equal(sidecar.key, PREFIX + key);
    assert.equal(sidecar.etag, object.version);
    await releaseCopy(object);
    assert.deepEqual(await spoolFiles(), []);
    await s3.close();
  });

  it('returns a gzip object as stored', async () => {
    const text = 'SR Number,SR Status\n1,Open\n';
    const gz = gzipSync(text);
    await bucket.put(`${PREFIX}gz/export.csv.gz`, gz);
    const s3 = source();
    const object = await listed(s3, 'gz/export.csv.gz');
    assert.deepEqual(await readCopy(s3, object), gz);
    await releaseCopy(object);
    await s3.close();
  });

  it('fails a download cut mid-body with a SourceError naming the object, and resumes it with a ranged GET', async () => {
    const body = randomBytes(2 * 1024 * 1024 + 123);
    const key = 'cut/big object.csv';
    await bucket.put(PREFIX + key, body);
    const s3 = source();
    const object = await listed(s3, key);
    proxy.requests.length = 0;
    proxy.cutAfter(700_000, key);
    await assert.rejects(s3.localCopy(object), (error: unknown) => {
      assert.ok(error instanceof SourceError);
      assert.match(error.message, /^The download of s3:\/\/etl-s3-source-[^ ]+\/Toshiba\/Historical Tickets\/cut\/big object\.csv was cut after \d+ of 2097275 bytes \([^)]+\); the next run resumes it from there\.$/);
      return true;
    });
    // A failed download hands out no copy: the partial download stays for the next run.
    const id = Spool.id(bucket.name, PREFIX + key);
    assert.deepEqual(await spoolFiles(), [`s3-${id}.json`, `s3-${id}.part`]);
    const partial = (await readFile(path.join(stateDir, 'tmp', `s3-${id}.part`))).length;
    assert.ok(partial > 0 && partial <= 700_000, `kept ${partial} bytes`);
    await s3.close();

    // A new source (as a new run) resumes from the partial copy.
    const again = source();
    const same = await listed(again, key);
    assert.equal(same.version, object.version);
    proxy.requests.length = 0;
    assert.deepEqual(await readCopy(again, same), body);
    const gets = getsOf(key);
    assert.equal(gets.length, 1);
    assert.equal(gets[0]!.range, `bytes=${partial}-`);
    assert.equal(gets[0]!.ifMatch, `"${object.version}"`);
    assert.equal(gets[0]!.status, 206);
    await releaseCopy(same);
    assert.deepEqual(await spoolFiles(), []);
    await again.close();
  });

  it('starts over when the object changed since the partial download', async () => {
    const key = 'cut/changes.csv';
    const first = randomBytes(500_000);
    await bucket.put(PREFIX + key, first);
    const s3 = source();
    const old = await listed(s3, key);
    proxy.cutAfter(100_000, key);
    await assert.rejects(s3.localCopy(old), SourceError);
    const id = Spool.id(bucket.name, PREFIX + key);
    assert.ok((await spoolFiles()).includes(`s3-${id}.part`));

    const second = randomBytes(400_000);
    await bucket.put(PREFIX + key, second);
    const changed = await listed(s3, key); // the listing drops the stale partial copy
    assert.notEqual(changed.version, old.version);
    assert.ok(!(await spoolFiles()).includes(`s3-${id}.part`), 'the partial copy of the old ETag is gone');
    proxy.requests.length = 0;
    assert.deepEqual(await readCopy(s3, changed), second);
    assert.equal(getsOf(key)[0]!.range, undefined, 'a full GET, not a ranged one');
    await releaseCopy(changed);

    // A partial copy left for another ETag (no listing in between) also starts over.
    const spool = new Spool(stateDir);
    const part = await spool.begin({ bucket: bucket.name, key: PREFIX + key, etag: old.version });
    await writeFile(part, first.subarray(0, 1000));
    proxy.requests.length = 0;
    assert.deepEqual(await readCopy(s3, changed), second);
    assert.equal(getsOf(key)[0]!.range, undefined);
    await releaseCopy(changed);
    await s3.close();
  });

  it('fails an object that changed after it was listed (If-Match), with one sentence', async () => {
    const key = 'race/object.csv';
    await bucket.put(PREFIX + key, 'one');
    const s3 = source();
    const object = await listed(s3, key);
    await bucket.put(PREFIX + key, 'two, longer');
    await assert.rejects(s3.localCopy(object), /changed after it was listed \(its ETag is no longer [0-9a-f]+\); the next run loads the new version\.$/);
    assert.deepEqual(await spoolFiles(), []);
    await s3.close();
  });

  it('retries a 503 storm on listing and on GET', async () => {
    const key = 'storm/object.csv';
    const body = randomBytes(50_000);
    await bucket.put(PREFIX + key, body);
    const s3 = source();
    proxy.requests.length = 0;
    proxy.fail503(3, 'SlowDown'); // throttling: the SDK backs off from 500 ms, so keep the storm short
    const object = (await s3.list()).find((candidate) => candidate.key === key)!;
    assert.ok(object);
    assert.equal(proxy.requests.filter((request) => request.action === '503').length, 3);
    proxy.fail503(5, 'ServiceUnavailable');
    assert.deepEqual(await readCopy(s3, object), body);
    assert.equal(proxy.requests.filter((request) => request.action === '503').length, 8);
    assert.equal(getsOf(key).filter((request) => request.status === 200).length, 1);
    await releaseCopy(object);
    await s3.close();
  });

  it('gives up on an endless 503 storm with one sentence', async () => {
    const s3 = source({ maxAttempts: 2 });
    proxy.fail503(100);
    try {
      await assert.rejects(s3.list(), (error: unknown) => {
        assert.ok(error instanceof SourceError);
        assert.match(error.message, /^S3 kept failing with HTTP 503 SlowDown while listing s3:\/\/.+ after 2 attempts; the next run tries again\.$/);
        return true;
      });
    } finally {
      proxy.clear();
      await s3.close();
    }
  });

  it('says in one sentence that the bucket does not exist, from check() and list()', async () => {
    const s3 = source({ bucket: `${bucket.name}-missing` });
    for (const call of [() => s3.check(), () => s3.list()]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof SourceError);
        assert.equal(error.message, `The bucket ${bucket.name}-missing does not exist at ${proxy.url} (s3_bucket / ETL_SOURCE).`);
        return true;
      });
    }
    await s3.close();
  });

  it('says in one sentence that S3 rejected the credentials, without the secret', async () => {
    const secret = requireService('TEST_S3_SECRET_KEY');
    const cases: Array<[string, { accessKeyId: string; secretAccessKey: string }]> = [
      ['InvalidAccessKeyId', { accessKeyId: 'no-such-key', secretAccessKey: 'whatever-secret-123' }],
      ['SignatureDoesNotMatch', { accessKeyId: requireService('TEST_S3_ACCESS_KEY'), secretAccessKey: `${secret}-wrong` }],
    ];
    for (const [code, credentials] of cases) {
      const s3 = source({ credentials });
      for (const call of [() => s3.check(), () => s3.list()]) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof SourceError);
          assert.equal(
            error.message,
            `S3 rejected the credentials (${code}) while listing s3://${bucket.name}/${PREFIX}: check aws_access_key_id / aws_secret_access_key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).`,
          );
          assert.ok(!error.message.includes(credentials.secretAccessKey));
          return true;
        });
      }
      await s3.close();
    }
  });

  it('says in one sentence that the endpoint cannot be reached', async () => {
    const s3 = source({ endpoint: 'http://127.0.0.1:9', maxAttempts: 2 });
    for (const call of [() => s3.check(), () => s3.list()]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof SourceError);
        assert.equal(error.message, `Cannot reach S3 endpoint http://127.0.0.1:9 while listing s3://${bucket.name}/${PREFIX} (ECONNREFUSED): check S3_ENDPOINT and the network.`);
        return true;
      });
    }
    await s3.close();
  });
});
