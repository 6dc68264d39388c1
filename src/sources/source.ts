// What the pipeline needs from a place that holds exports: list them, read one as bytes.
import type { Readable } from 'node:stream';

export interface SourceObject {
  /** Key relative to the source root (S3 key without the prefix, or a relative path with '/'). */
  readonly key: string;
  /** Changes whenever the content changes: ETag on S3, a content fingerprint locally. */
  readonly version: string;
  readonly size: number;
  readonly lastModified: Date;
}

export interface Source {
  /** Human-readable location, safe to log (never carries credentials). */
  readonly description: string;
  /** Every object under the root, data or not, in no particular order. */
  list(): Promise<SourceObject[]>;
  /**
   * The object's bytes exactly as stored (still gzipped where it is). May be called more than once
   * for the same object during one load (encoding detection reads it twice).
   */
  open(object: SourceObject): Promise<Readable>;
  /** Called once the object's file transaction has ended; a source may drop temporary copies. */
  release?(object: SourceObject): Promise<void>;
  /** Checks that the source is reachable; throws a SourceError with one clear sentence otherwise. */
  check(): Promise<void>;
  close?(): Promise<void>;
}

/** A failure of the source itself (unreachable, missing bucket, bad credentials, cut connection). */
export class SourceError extends Error {
  override name = 'SourceError';
}
