// Buckets on the test MinIO (TEST_S3_*): one fresh bucket per test, filled and emptied here.
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { requireService, s3Settings } from './services.ts';

export function testS3Client(): S3Client {
  return new S3Client({ ...s3Settings(), requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

export interface TestBucket {
  name: string;
  client: S3Client;
  put(key: string, body: Buffer | string): Promise<string>;
  /** Uploads with `concurrency` requests in flight (order of LastModified not guaranteed). */
  putMany(objects: ReadonlyArray<{ key: string; body: Buffer | string }>, concurrency?: number): Promise<void>;
  remove(key: string): Promise<void>;
  /** Deletes every object and the bucket. */
  drop(): Promise<void>;
}

export async function createTestBucket(prefix = 'etl-test'): Promise<TestBucket> {
  const client = testS3Client();
  const name = `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.toLowerCase().slice(0, 63);
  await client.send(new CreateBucketCommand({ Bucket: name }));
  const put = async (key: string, body: Buffer | string) => {
    const out = await client.send(new PutObjectCommand({ Bucket: name, Key: key, Body: body }));
    return (out.ETag ?? '').replace(/"/g, '');
  };
  const putMany = async (objects: ReadonlyArray<{ key: string; body: Buffer | string }>, concurrency = 16) => {
    let next = 0;
    const worker = async () => {
      while (next < objects.length) {
        const object = objects[next++]!;
        await put(object.key, object.body);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, objects.length) }, worker));
  };
  const remove = async (key: string) => {
    await client.send(new DeleteObjectCommand({ Bucket: name, Key: key }));
  };
  let dropped = false;
  return {
    name,
    client,
    put,
    putMany,
    remove,
    async drop() {
      if (dropped) return;
      dropped = true;
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: name, ContinuationToken: token }));
        for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      for (let at = 0; at < keys.length; at += 1000) {
        const batch = keys.slice(at, at + 1000).map((Key) => ({ Key }));
        await client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: batch, Quiet: true } }));
      }
      await client.send(new DeleteBucketCommand({ Bucket: name }));
      client.destroy();
    },
  };
}

/** The environment `etl` needs to read `s3://bucket/prefix` on the test MinIO (endpoint overridable, e.g. a fault proxy). */
export function s3Env(bucket: string, prefix: string, endpoint = requireService('TEST_S3_ENDPOINT')): Record<string, string> {
  return {
    ETL_SOURCE: `s3://${bucket}/${prefix}`,
    S3_ENDPOINT: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: requireService('TEST_S3_ACCESS_KEY'),
    AWS_SECRET_ACCESS_KEY: requireService('TEST_S3_SECRET_KEY'),
  };
}
