// Picks the source from the settings.
import type { Settings } from '../config/load.ts';
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
