// The spool's download writer on the real file system: a body that fails midway leaves every byte
// it delivered on disk, so the next run's ranged GET starts at the true end of the copy.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { saveBody } from '../src/sources/spool.ts';

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
