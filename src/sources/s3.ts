// Exports in an S3 bucket (or an S3-compatible server) under a prefix. The object's ETag is its
// version. Each object is downloaded to `<state_dir>/tmp/` (spool.ts) and read from there by the
// parse worker: the second read of a load (encoding detection, then parsing) costs no second
// download, memory stays flat whatever the object size, and a download cut off by a dead run
// resumes with a ranged GET pinned to the same ETag. Errors a user can fix end in one sentence that names the
// bucket or the object and the setting to look at; no secret ever goes into one.
import { GetObjectCommand, ListObjectsV2Command, S3Client, type GetObjectCommandInput, type S3ClientConfig } from '@aws-sdk/client-s3';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { SourceError, type LocalCopy, type Source, type SourceObject } from './source.ts';
import { saveBody, Spool, SpoolWriteError, type SpoolBounds, type SpoolIdentity } from './spool.ts';
import { errorClause } from '../error-text.ts';
import { withoutCredentials } from '../secrets.ts';

export interface S3SourceOptions {
  bucket: string;
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  /** Without them the SDK's default chain applies (IRSA web identity, environment, profile). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  stateDir: string;
  /** ListObjectsV2 page size (MaxKeys); S3 caps it at 1000. */
  pageSize?: number;
  /** SDK attempts per request (first try included); AWS_MAX_ATTEMPTS wins when set. */
  maxAttempts?: number;
  /** What may be kept of partial downloads (spool_max_age_hours, spool_max_bytes). */
  spoolBounds?: SpoolBounds;
}

/** Attempts per request: with the SDK's standard backoff (jittered, 100 ms doubling, at most 20 s) about half a minute of throttling or 5xx before giving up. */
export const DEFAULT_MAX_ATTEMPTS = 8;
const CONNECT_TIMEOUT_MS = 10_000;
/** A socket silent this long (headers or body) fails the request: a stalled download does not hang the run. */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;
const READ_CHUNK_BYTES = 256 * 1024;

const CREDENTIAL_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidClientTokenId']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

export class S3Source implements Source {
  readonly description: string;
  private readonly client: S3Client;
  private readonly options: S3SourceOptions;
  private readonly spool: Spool;

  constructor(options: S3SourceOptions) {
    this.options = options;
    this.description = `s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${safeEndpoint(options.endpoint)}` : ''}`;
    this.spool = new Spool(options.stateDir);
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      // Some S3-compatible servers reject the CRC32 checksums recent SDKs add by default.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SOCKET_IDLE_TIMEOUT_MS },
    };
    // Throttling (503 SlowDown, 429) and 5xx are retried by the SDK's standard strategy with
    // jittered exponential backoff. AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, when set, are the SDK's own.
    if (!process.env.AWS_MAX_ATTEMPTS) config.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!process.env.AWS_RETRY_MODE) config.retryMode = 'standard';
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    this.client = new S3Client(config);
  }

  private get where(): string {
    return `s3://${this.options.bucket}/${this.options.prefix}`;
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.options.prefix, MaxKeys: 1 }));
    } catch (error) {
      throw this.describe(error, `listing ${this.where}`);
    }
  }

  async list(signal?: AbortSignal): Promise<SourceObject[]> {
    const { bucket, prefix } = this.options;
    const objects: SourceObject[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.options.pageSize }),
          { abortSignal: signal },
        );
      } catch (error) {
        if (signal?.aborted) throw error;
        throw this.describe(error, `listing ${this.where}`);
      }
      for (const item of page.Contents ?? []) {
        if (!item.Key || !item.Key.startsWith(prefix)) continue;
        objects.push({
          key: item.Key.slice(prefix.length),
          version: unquote(item.ETag ?? ''),
          size: item.Size ?? 0,
          lastModified: item.LastModified ?? new Date(0),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    // Partial downloads of objects that are gone or changed will never be resumed; the others are
    // kept within the spool's bounds.
    await this.spool.sweep(bucket, prefix, new Map(objects.map((object) => [prefix + object.key, object.version])), this.options.spoolBounds).catch(() => 0);
    return objects;
  }

  /**
   * The complete local copy; downloads it (or the rest of it) first when needed. Released when the
   * load ends: the complete copy goes; a partial download stays to be resumed.
   */
  async localCopy(object: SourceObject, signal?: AbortSignal): Promise<LocalCopy> {
    const identity = this.identity(object);
    let state = await this.spool.state(identity);
    if (state.kind !== 'complete') {
      await this.download(object, identity, state.kind === 'partial' ? state.bytes : 0, signal);
      state = await this.spool.state(identity);
      if (state.kind !== 'complete') throw new SourceError(`The local copy of ${this.name(object)} in ${this.spool.dir} vanished during the load.`);
    }
    return { path: state.path, release: () => this.spool.releaseComplete(identity.bucket, identity.key) };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private identity(object: SourceObject): SpoolIdentity {
    return { bucket: this.options.bucket, key: this.options.prefix + object.key, etag: object.version };
  }

  private name(object: SourceObject): string {
    return `s3://${this.options.bucket}/${this.options.prefix}${object.key}`;
  }

  /** Brings the .part file to the whole object, from `offset` on, then renames it complete. */
  private async download(object: SourceObject, identity: SpoolIdentity, offset: number, signal?: AbortSignal): Promise<void> {
    const name = this.name(object);
    if (offset > 0 && offset === object.size) {
      await this.spool.complete(identity);
      return;
    }
    if (offset > object.size) offset = 0; // cannot be a prefix of this version: start over
    if (offset === 0) await this.spool.begin(identity);
    const part = this.spool.paths(identity.bucket, identity.key).part;

    // If-Match pins every request, ranged or not, to the listed ETag: the bytes on disk and the
    // version written to the ledger always belong together.
    const input: GetObjectCommandInput = { Bucket: identity.bucket, Key: identity.key, IfMatch: `"${identity.etag}"` };
    if (offset > 0) input.Range = `bytes=${offset}-`;
    let response;
    try {
      response = await this.client.send(new GetObjectCommand(input), { abortSignal: signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      const status = httpStatus(error);
      if (status === 412) {
        await this.spool.remove(identity.bucket, identity.key);
        throw new SourceError(`${name} changed after it was listed (its ETag is no longer ${identity.etag}); the next run loads the new version.`);
      }
      if (status === 416 && offset > 0) {
        // The partial copy does not fit the object: drop it; the next attempt starts over.
        await this.spool.remove(identity.bucket, identity.key);
        throw new SourceError(`The partial download of ${name} does not match the object (HTTP 416); it was dropped and the next attempt starts over.`);
      }
      throw this.describe(error, `reading ${name}`, object);
    }
    const body = response.Body as Readable | undefined;
    if (!body) throw new SourceError(`S3 returned no body for ${name}.`);
    let append = offset > 0;
    if (append && !(response.ContentRange ?? '').startsWith(`bytes ${offset}-`)) {
      // The server ignored the Range header and sent the whole object: write it from the start.
      append = false;
      offset = 0;
    }
    const expected = offset + (response.ContentLength ?? object.size - offset);
    try {
      await saveBody(body, part, append, READ_CHUNK_BYTES);
    } catch (error) {
      if (error instanceof SpoolWriteError) {
        // A full volume would stay full with this copy kept: it goes, and the run says what to do.
        await this.spool.remove(identity.bucket, identity.key).catch(() => {});
        throw new SourceError(
          `Cannot write the download of ${name} (${object.size} bytes) to ${this.spool.dir}: ${error.code}${error.code === 'ENOSPC' ? ' (no space left on the device)' : ''}; ` +
            'the partial copy was removed. Give state_dir (the PVC) room for the largest objects being loaded at once.',
        );
      }
      if (signal?.aborted) throw error;
      const have = (await stat(part).catch(() => undefined))?.size ?? 0;
      throw new SourceError(
        `The download of ${name} was cut after ${have} of ${expected} bytes (${failureCode(error)}); the next run resumes it from there.`,
      );
    }
    const have = (await stat(part)).size;
    if (have !== expected) {
      throw new SourceError(`The download of ${name} ended after ${have} of ${expected} bytes; the next run resumes it from there.`);
    }
    await this.spool.complete(identity);
  }

  /** One sentence for an SDK error: what failed, and which setting fixes it. */
  private describe(error: unknown, action: string, object?: SourceObject): SourceError {
    if (error instanceof SourceError) return error;
    const { bucket, region } = this.options;
    const code = errorCode(error);
    const status = httpStatus(error);
    const endpoint = this.options.endpoint ? safeEndpoint(this.options.endpoint) : `https://s3.${region}.amazonaws.com`;
    const endpointKeys = this.options.endpoint ? 'S3_ENDPOINT' : 'AWS_REGION';
    if (code === 'NoSuchBucket') return new SourceError(`The bucket ${bucket} does not exist at ${endpoint} (s3_bucket / ETL_SOURCE).`);
    if (code === 'NoSuchKey' && object) return new SourceError(`${this.name(object)} disappeared from the bucket after it was listed; the next run marks it gone.`);
    if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException' || status === 301) {
      // S3 names the right region in the error body (<Region>) for a wrongly signed region.
      const actual = (error as { Region?: unknown }).Region;
      const hint = typeof actual === 'string' && /^[a-z0-9-]+$/.test(actual) && actual !== region ? ` (it is in ${actual})` : '';
      return new SourceError(`The bucket ${bucket} is not in region ${region}${hint}: set aws_region (AWS_REGION) to the bucket's region.`);
    }
    if (CREDENTIAL_ERRORS.has(code)) {
      const which = this.options.credentials
        ? 'check aws_access_key_id / aws_secret_access_key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)'
        : 'check the credentials of the default chain (IRSA role, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE)';
      return new SourceError(`S3 rejected the credentials (${code}) while ${action}: ${which}.`);
    }
    if (code === 'CredentialsProviderError' || (error as { name?: string } | undefined)?.name === 'CredentialsProviderError') {
      return new SourceError(
        `No AWS credentials were found for ${action}: set aws_access_key_id and aws_secret_access_key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or give the pod an IAM role (IRSA) or a profile.`,
      );
    }
    if (code === 'AccessDenied' || status === 403) {
      return new SourceError(`S3 denied access while ${action} (${code || 'HTTP 403'}): the credentials need s3:ListBucket on ${bucket} and s3:GetObject on its objects.`);
    }
    if (NETWORK_CODES.has(code) || code === 'TimeoutError') {
      return new SourceError(`Cannot reach S3 endpoint ${endpoint} while ${action} (${code || 'no answer'}): check ${endpointKeys} and the network.`);
    }
    if (status !== undefined && status >= 500) {
      const attempts = (error as { $metadata?: { attempts?: number } }).$metadata?.attempts;
      return new SourceError(`S3 kept failing with HTTP ${status} ${code} while ${action}${attempts ? ` after ${attempts} attempts` : ''}; the next run tries again.`);
    }
    return new SourceError(`S3 failed while ${action}: ${code || 'error'}${status ? ` (HTTP ${status})` : ''}: ${errorClause(error)}.`);
  }
}

function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/"/g, '');
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** The S3 error code, else the Node error code (also inside an AggregateError), else the name. */
function errorCode(error: unknown): string {
  const err = error as { Code?: string; name?: string; code?: string; errors?: Array<{ code?: string }>; cause?: { code?: string } } | undefined;
  if (!err) return '';
  if (typeof err.Code === 'string' && err.Code) return err.Code;
  const code = err.code ?? err.errors?.find((inner) => inner.code)?.code ?? err.cause?.code;
  if (code) return code;
  if (err.name && err.name !== 'Error' && err.name !== 'Unknown' && err.name !== 'UnknownError') return err.name;
  return '';
}

function failureCode(error: unknown): string {
  const code = errorCode(error);
  if (code) return code;
  return errorClause(error) || 'connection closed';
}


/** The endpoint without any user:password part. */
function safeEndpoint(endpoint: string): string {
  return withoutCredentials(endpoint)?.replace(/\/$/, '') ?? '(unparseable S3_ENDPOINT)';
}
