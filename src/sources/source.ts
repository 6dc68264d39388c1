// What the pipeline needs from a place that holds exports: list them, and have one as a local
// file while it loads (the parse worker reads it by path).

export interface SourceObject {
  /** Key relative to the source root (S3 key without the prefix, or a relative path with '/'). */
  readonly key: string;
  /** Changes whenever the content changes: ETag on S3, a content fingerprint locally. */
  readonly version: string;
  readonly size: number;
  readonly lastModified: Date;
}

/** An object as a local file, for the length of one load. */
export interface LocalCopy {
  /** The object's bytes exactly as stored (still gzipped where it is). */
  readonly path: string;
  /** The load has ended, whatever its outcome: a temporary copy goes; a partial download stays. */
  release(): Promise<void>;
}

export interface Source {
  /** Human-readable location, safe to log (never carries credentials). */
  readonly description: string;
  /** Every object under the root, data or not, in no particular order. */
  list(signal?: AbortSignal): Promise<SourceObject[]>;
  /** The object as a local file: the folder's own file, or the S3 object downloaded to the spool. */
  localCopy(object: SourceObject, signal?: AbortSignal): Promise<LocalCopy>;
  /** Checks that the source is reachable; throws a SourceError with one clear sentence otherwise. */
  check(): Promise<void>;
  close?(): Promise<void>;
}

/** A failure of the source itself (unreachable, missing bucket, bad credentials, cut connection). */
export class SourceError extends Error {
  override name = 'SourceError';
}
