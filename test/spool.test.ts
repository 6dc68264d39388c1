// The spool's download writer on the real file system: a body that fails midway leaves every byte
// it delivered on disk, so the next run's ranged GET starts at the true end of the copy.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { saveBody, Spool } from '../src/sources/spool.ts';

/** A body that delivers `chunks`, then fails the way a cut connection does. */
function cutBody(chunks: Buffer[]): Readable {
  const body = new Readable({ read() {} });
  for (const chunk of chunks) body.push(chunk);
  setImmediate(() => body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
  return body;
}

function chunks(count: number, size: number, first: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(size, (first + i) % 256));
}

describe('saveBody', () => {
  it('a body cut midway: the error comes through and every byte delivered before it is on disk (20 tries)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'etl-spool-'));
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        const file = path.join(dir, `cut-${attempt}.part`);
        const sent = chunks(6, 16_384, attempt);
        await assert.rejects(saveBody(cutBody(sent), file, false, 256 * 1024), { code: 'ECONNRESET' });
        const kept = await readFile(file);
        // Lengths first: a diff of two 96 KiB buffers would take assert minutes to print.
        assert.equal(kept.length, 6 * 16_384, `attempt ${attempt}: the .part holds every byte that arrived`);
        assert.ok(kept.equals(Buffer.concat(sent)), `attempt ${attempt}: the .part holds the bytes in order`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('appends to a partial copy, and a whole body completes it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'etl-spool-'));
    try {
      const file = path.join(dir, 'resume.part');
      await writeFile(file, 'first part,');
      await saveBody(Readable.from([Buffer.from('second part,'), Buffer.from('end')]), file, true, 1024);
      assert.equal(await readFile(file, 'utf8'), 'first part,second part,end');
      await saveBody(Readable.from([Buffer.from('from the start')]), file, false, 1024);
      assert.equal(await readFile(file, 'utf8'), 'from the start', 'append=false writes over the old copy');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Spool.bound: kept partial downloads stay within their bounds', () => {
  it('removes partial downloads older than the age bound, then the oldest until the rest fit the byte bound', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'etl-spool-bound-'));
    try {
      const spool = new Spool(stateDir);
      const now = Date.now();
      const partial = async (key: string, bytes: number, ageHours: number) => {
        const part = await spool.begin({ bucket: 'b', key, etag: 'e' });
        await writeFile(part, Buffer.alloc(bytes));
        const when = (now - ageHours * 3_600_000) / 1000;
        await utimes(part, when, when);
        return Spool.id('b', key);
      };
      const stale = await partial('stale.csv', 100, 80);
      const old = await partial('old.csv', 600, 10);
      const recent = await partial('recent.csv', 600, 1);
      const removed = await spool.bound({ maxAgeMs: 72 * 3_600_000, maxBytes: 1000 }, now);
      assert.equal(removed, 2);
      const names = (await readdir(spool.dir)).sort();
      assert.deepEqual(names, [`s3-${recent}.json`, `s3-${recent}.part`], `stale ${stale} and old ${old} are gone, recent stays`);
      const mode = (await stat(path.join(spool.dir, `s3-${recent}.part`))).mode & 0o777;
      assert.equal(mode.toString(8), '600', 'downloads are readable by the owner only');
      assert.equal(((await stat(spool.dir)).mode & 0o777).toString(8), '700');
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
