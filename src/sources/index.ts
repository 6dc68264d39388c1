// Picks the source from the settings.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Settings, SourceSetting } from '../config/load.ts';
import { ConfigError } from '../config/load.ts';
import { LocalSource } from './local.ts';
import type { Source } from './source.ts';

export async function openSource(settings: Settings): Promise<Source> {
  switch (settings.source.kind) {
    case 'local':
      return new LocalSource(settings.source.dir);
    case 's3': {
      const { S3Source } = await import('./s3.ts');
      return new S3Source({ ...settings.s3, bucket: settings.source.bucket, prefix: settings.source.prefix, stateDir: settings.stateDir });
    }
    case 'none':
      throw new ConfigError('No source is configured: set source (ETL_SOURCE) to s3://bucket/prefix/ or a folder, or set s3_bucket and s3_folder.');
  }
}

/**
 * The source's identity, which the ledger's keys are relative to: s3://bucket/prefix or
 * file:///absolute/dir/ (load/source-root.ts).
 */
export function sourceRoot(setting: SourceSetting): string {
  switch (setting.kind) {
    case 's3':
      return `s3://${setting.bucket}/${setting.prefix}`;
    case 'local':
      return `${pathToFileURL(path.resolve(setting.dir)).href.replace(/\/?$/, '/')}`;
    case 'none':
      return '';
  }
}
