// Exports in an S3 bucket under a prefix. The object's ETag is its version.
import { GetObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { SourceError, type Source, type SourceObject } from './source.ts';

export interface S3SourceOptions {
  bucket: string;
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  stateDir: string;
}

export class S3Source implements Source {
  readonly description: string;
  private readonly client: S3Client;
  private readonly options: S3SourceOptions;

  constructor(options: S3SourceOptions) {
    this.options = options;
    this.description = `s3://${options.bucket}/${options.prefix}`;
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    this.client = new S3Client(config);
  }

  async check(): Promise<void> {
    await this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.options.prefix, MaxKeys: 1 }));
  }

  async list(): Promise<SourceObject[]> {
    const objects: SourceObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.options.prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        if (!item.Key) continue;
        objects.push({
          key: item.Key.slice(this.options.prefix.length),
          version: (item.ETag ?? '').replace(/"/g, ''),
          size: item.Size ?? 0,
          lastModified: item.LastModified ?? new Date(0),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  async open(object: SourceObject): Promise<Readable> {
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.options.prefix + object.key }));
    if (!response.Body) throw new SourceError(`s3://${this.options.bucket}/${this.options.prefix}${object.key} has no body.`);
    return response.Body as Readable;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
