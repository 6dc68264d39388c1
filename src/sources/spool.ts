// Local copies of source objects under `<state_dir>/tmp/` (the PVC in Kubernetes).
//
// One object has up to three files, named from a hash of bucket and key:
//   s3-<id>.json  the sidecar: bucket, key and ETag the bytes belong to (written first)
//   s3-<id>.part  the bytes downloaded so far, always a prefix of that ETag's content
//   s3-<id>.data  the complete object (renamed from .part once every byte is there)
// A run that dies in the middle of a download leaves .part and .json behind; the next run finds
// them, and when the ETag still matches it asks only for the missing bytes. Kept partial downloads
// are bounded (SpoolBounds): the oldest go first, so a full volume frees itself.
// Files are created 0600 in a 0700 folder: they hold the customer's data.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { stateDirLayout } from '../state-dir.ts';

/** What may be kept of downloads that a later run could resume. */
export interface SpoolBounds {
  /** Partial downloads older than this are removed. */
  maxAgeMs: number;
  /** When partial downloads take more than this, the oldest are removed. */
  maxBytes: number;
}

/** Writing to the spool failed (the volume is full, an I/O error): not the source's fault. */
export class SpoolWriteError extends Error {
  override name = 'SpoolWriteError';
  readonly code: string;
  constructor(cause: Error & { code?: string }) {
    super(cause.message);
    this.code = cause.code ?? 'EIO';
  }
}

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export interface SpoolIdentity {
  bucket: string;
  /** Full S3 key (prefix included). */
  key: string;
  etag: string;
}

export type SpoolState =
  | { kind: 'complete'; path: string; bytes: number }
  | { kind: 'partial'; path: string; bytes: number }
  | { kind: 'none' };

interface Sidecar extends SpoolIdentity {
  started_at: string;
}

const NAME = /^s3-([0-9a-f]{40})\.(json|part|data)$/;

export class Spool {
  readonly dir: string;
  private ready: Promise<void> | undefined;

  constructor(stateDir: string) {
    this.dir = stateDirLayout.spool(stateDir);
  }

  private ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: DIR_MODE }).then(() => undefined);
    return this.ready;
  }

  static id(bucket: string, key: string): string {
    return createHash('sha256').update(`${bucket}\n${key}`).digest('hex').slice(0, 40);
  }

  paths(bucket: string, key: string): { sidecar: string; part: string; data: string } {
    const base = path.join(this.dir, `s3-${Spool.id(bucket, key)}`);
    return { sidecar: `${base}.json`, part: `${base}.part`, data: `${base}.data` };
  }

  /** What is on disk for this object at this ETag; anything kept for another ETag is removed. */
  async state(identity: SpoolIdentity): Promise<SpoolState> {
    await this.ensureDir();
    const paths = this.paths(identity.bucket, identity.key);
    const sidecar = await readSidecar(paths.sidecar);
    if (!sidecar || sidecar.bucket !== identity.bucket || sidecar.key !== identity.key || sidecar.etag !== identity.etag) {
      await this.remove(identity.bucket, identity.key);
      return { kind: 'none' };
    }
    const data = await stat(paths.data).catch(() => undefined);
    if (data) return { kind: 'complete', path: paths.data, bytes: data.size };
    const part = await stat(paths.part).catch(() => undefined);
    if (part) return { kind: 'partial', path: paths.part, bytes: part.size };
    return { kind: 'none' };
  }

  /** Starts a download from byte 0: the sidecar is written first, then an empty .part. */
  async begin(identity: SpoolIdentity): Promise<string> {
    await this.ensureDir();
    await this.remove(identity.bucket, identity.key);
    const paths = this.paths(identity.bucket, identity.key);
    const sidecar: Sidecar = { ...identity, started_at: new Date().toISOString() };
    await writeFile(`${paths.sidecar}.tmp`, JSON.stringify(sidecar) + '\n', { mode: FILE_MODE });
    await rename(`${paths.sidecar}.tmp`, paths.sidecar);
    await writeFile(paths.part, '', { mode: FILE_MODE });
    return paths.part;
  }

  /** Every byte is in .part: it becomes .data. */
  async complete(identity: SpoolIdentity): Promise<string> {
    const paths = this.paths(identity.bucket, identity.key);
    await rename(paths.part, paths.data);
    return paths.data;
  }

  /** Drops the complete copy of an object; a partial download is kept for the next run to resume. */
  async releaseComplete(bucket: string, key: string): Promise<void> {
    const paths = this.paths(bucket, key);
    if (!(await stat(paths.data).catch(() => undefined))) return;
    await rm(paths.data, { force: true });
    await rm(paths.sidecar, { force: true });
  }

  /** Drops every file of an object (data before sidecar, so no data is ever left unnamed). */
  async remove(bucket: string, key: string): Promise<void> {
    const paths = this.paths(bucket, key);
    await rm(paths.data, { force: true });
    await rm(paths.part, { force: true });
    await rm(paths.sidecar, { force: true });
    await rm(`${paths.sidecar}.tmp`, { force: true });
  }

  /**
   * Removes what no run will resume: copies of this bucket's objects under `prefix` whose key is
   * no longer listed or whose ETag changed, and data files that lost their sidecar.
   * Other buckets' and prefixes' files are left alone.
   */
  async sweep(bucket: string, prefix: string, current: ReadonlyMap<string, string>, bounds?: SpoolBounds): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const removed = await this.sweepUnresumable(names, bucket, prefix, current);
    return removed + (bounds ? await this.bound(bounds) : 0);
  }

  /**
   * Keeps partial downloads within `bounds`: those older than maxAgeMs go, then the oldest until
   * the rest take at most maxBytes. Complete copies are in use by a load and are left alone.
   */
  async bound(bounds: SpoolBounds, now = Date.now()): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const parts: Array<{ id: string; bytes: number; modified: number }> = [];
    for (const name of names) {
      const match = NAME.exec(name);
      if (!match || match[2] !== 'part') continue;
      const info = await stat(path.join(this.dir, name)).catch(() => undefined);
      if (info) parts.push({ id: match[1]!, bytes: info.size, modified: info.mtimeMs });
    }
    parts.sort((a, b) => a.modified - b.modified);
    let total = parts.reduce((sum, part) => sum + part.bytes, 0);
    let removed = 0;
    for (const part of parts) {
      if (now - part.modified <= bounds.maxAgeMs && total <= bounds.maxBytes) continue;
      const base = path.join(this.dir, `s3-${part.id}`);
      await rm(`${base}.part`, { force: true });
      await rm(`${base}.json`, { force: true });
      total -= part.bytes;
      removed++;
    }
    return removed;
  }

  private async sweepUnresumable(names: string[], bucket: string, prefix: string, current: ReadonlyMap<string, string>): Promise<number> {
    const ids = new Set<string>();
    const sidecars = new Set<string>();
    for (const name of names) {
      const match = NAME.exec(name);
      if (!match) continue;
      ids.add(match[1]!);
      if (match[2] === 'json') sidecars.add(match[1]!);
    }
    let removed = 0;
    for (const id of ids) {
      const base = path.join(this.dir, `s3-${id}`);
      if (!sidecars.has(id)) {
        await rm(`${base}.part`, { force: true });
        await rm(`${base}.data`, { force: true });
        removed++;
        continue;
      }
      const sidecar = await readSidecar(`${base}.json`);
      if (!sidecar) {
        await rm(`${base}.part`, { force: true });
        await rm(`${base}.data`, { force: true });
        await rm(`${base}.json`, { force: true });
        removed++;
        continue;
      }
      if (sidecar.bucket !== bucket || !sidecar.key.startsWith(prefix)) continue;
      if (current.get(sidecar.key) !== sidecar.etag) {
        await this.remove(sidecar.bucket, sidecar.key);
        removed++;
      }
    }
    return removed;
  }
}

/**
 * Writes (or appends) a download body to `file`. When the body fails midway, every byte received
 * before the failure is on disk before the error is rethrown, so the next run resumes from the
 * true end of the copy. stream.pipeline() cannot be used here: on a source error it destroys the
 * file stream, and writes still buffered in it (while the file opens, or behind a slow disk) are
 * dropped; the kept .part then ends short, often empty, and the resume starts over from byte 0.
 * The file stream keeps an error listener for its whole life (an asynchronous write error such as
 * ENOSPC is an 'error' event): a write that fails stops the download with a SpoolWriteError.
 */
export async function saveBody(body: Readable, file: string, append: boolean, highWaterMark: number): Promise<void> {
  const out = createWriteStream(file, { flags: append ? 'a' : 'w', highWaterMark, mode: FILE_MODE });
  let writeError: (Error & { code?: string }) | undefined;
  out.on('error', (error) => {
    writeError ??= error;
    body.destroy(); // no point in receiving what cannot be written
  });
  let failure: unknown;
  try {
    for await (const chunk of body) {
      if (writeError) break;
      if (!out.write(chunk as Buffer)) await once(out, 'drain');
    }
  } catch (error) {
    failure = error;
  }
  if (!writeError) out.end();
  try {
    await finished(out);
  } catch (error) {
    failure ??= error;
  }
  if (writeError) throw new SpoolWriteError(writeError);
  if (failure !== undefined) throw failure;
}

async function readSidecar(file: string): Promise<Sidecar | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Sidecar>;
    if (typeof parsed.bucket !== 'string' || typeof parsed.key !== 'string' || typeof parsed.etag !== 'string') return undefined;
    return parsed as Sidecar;
  } catch {
    return undefined;
  }
}
