// Loads and validates the configuration; turns it into the settings the runner uses.
import { existsSync } from 'node:fs';
import convict from 'convict';
import { configSchema } from './schema.ts';
import { errorClause } from '../error-text.ts';
import { registerSecret, registerUrlSecrets } from '../secrets.ts';

export interface Settings {
  source: SourceSetting;
  databaseUrl: string;
  /** Schema of the etl's tables (config database_schema). */
  databaseSchema: string;
  stateDir: string;
  logLevel: string;
  logFormat: 'auto' | 'json' | 'pretty';
  logFiles: boolean;
  progressIntervalMs: number;
  rejectThreshold: number;
  rejectThresholdMinRows: number;
  /** A complete last row without a line break after it loads (spec, defect 4: off by default). */
  sourceOmitsFinalNewline: boolean;
  loadConcurrency: number;
  /** Processes with the same run id share one run (config run_id); empty: a run of its own. */
  runId: string;
  limits: { maxRecordBytes: number; maxGzipRatio: number; maxRejectsPerObject: number };
  database: DatabaseTimeouts;
  spool: { maxAgeMs: number; maxBytes: number };
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  s3: { region: string; endpoint?: string; forcePathStyle: boolean; credentials?: { accessKeyId: string; secretAccessKey: string } };
  /** The config file that was read, if any. */
  configFile?: string;
}

/** Timeouts of every database connection of a run (config keys db_*). */
export interface DatabaseTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
  healthCheckMs: number;
}

export type SourceSetting = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string } | { kind: 'none' };

/** A configuration the user must fix; the message is one sentence that names the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadOptions {
  /** --config PATH (beats ETL_CONFIG). */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Command-line overrides, in convict's `--key value` form. */
  args?: string[];
}

export function loadSettings(options: LoadOptions = {}): Settings {
  const env = options.env ?? process.env;
  const config = convict(configSchema, { env, args: options.args ?? [] });
  const file = options.configFile ?? (env.ETL_CONFIG || undefined);
  if (file) {
    if (!existsSync(file)) throw new ConfigError(`The config file ${file} does not exist: fix --config or ETL_CONFIG.`);
    try {
      config.loadFile(file);
    } catch (error) {
      throw new ConfigError(`The config file ${file} cannot be read: ${errorClause(error)}.`);
    }
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (error) {
    throw new ConfigError(describeValidation(error, file));
  }
  const s3Credentials =
    config.get('aws_access_key_id') || config.get('aws_secret_access_key')
      ? { accessKeyId: config.get('aws_access_key_id'), secretAccessKey: config.get('aws_secret_access_key') }
      : undefined;
  if (s3Credentials && (!s3Credentials.accessKeyId || !s3Credentials.secretAccessKey)) {
    throw new ConfigError('Set both aws_access_key_id (AWS_ACCESS_KEY_ID) and aws_secret_access_key (AWS_SECRET_ACCESS_KEY), or neither to use the default AWS credential chain.');
  }
  // Whatever goes out of the process from now on is scrubbed of these (src/secrets.ts).
  registerUrlSecrets(config.get('pg_conn_string'));
  registerSecret(config.get('aws_secret_access_key'));
  return {
    source: parseSource(config.get('source'), config.get('s3_bucket'), config.get('s3_folder')),
    databaseUrl: normalizeDatabaseUrl(config.get('pg_conn_string')),
    databaseSchema: config.get('database_schema'),
    stateDir: config.get('state_dir'),
    logLevel: config.get('log_level'),
    logFormat: config.get('log_format') as Settings['logFormat'],
    logFiles: config.get('log_files'),
    progressIntervalMs: Math.round(config.get('progress_interval_seconds') * 1000),
    rejectThreshold: config.get('reject_threshold'),
    rejectThresholdMinRows: config.get('reject_threshold_min_rows'),
    sourceOmitsFinalNewline: config.get('source_omits_final_newline'),
    // The one clamp: 0 (a 'nat') loads one batch at a time.
    loadConcurrency: Math.max(1, config.get('load_concurrency')),
    runId: config.get('run_id').trim(),
    limits: {
      maxRecordBytes: config.get('max_record_bytes'),
      maxGzipRatio: config.get('max_gzip_ratio'),
      maxRejectsPerObject: config.get('max_rejects_per_object'),
    },
    database: {
      statementTimeoutMs: Math.round(config.get('db_statement_timeout_seconds') * 1000),
      lockTimeoutMs: Math.round(config.get('db_lock_timeout_seconds') * 1000),
      idleInTransactionTimeoutMs: Math.round(config.get('db_idle_in_transaction_timeout_seconds') * 1000),
      healthCheckMs: Math.round(config.get('db_health_check_seconds') * 1000),
    },
    spool: { maxAgeMs: Math.round(config.get('spool_max_age_hours') * 3_600_000), maxBytes: config.get('spool_max_bytes') },
    retryBaseSeconds: config.get('retry_base_seconds'),
    retryMaxSeconds: config.get('retry_max_seconds'),
    s3: {
      region: config.get('aws_region'),
      endpoint: config.get('s3_endpoint') || undefined,
      forcePathStyle: config.get('s3_force_path_style'),
      credentials: s3Credentials,
    },
    configFile: file,
  };
}

/** `s3://bucket/prefix/`, `file:///dir`, a plain path, or the old s3_bucket + s3_folder. */
export function parseSource(source: string, bucket: string, folder: string): SourceSetting {
  if (source.startsWith('s3://')) {
    const rest = source.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const name = slash === -1 ? rest : rest.slice(0, slash);
    if (!name) throw new ConfigError(`source (ETL_SOURCE) ${source} names no bucket: use s3://bucket/prefix/.`);
    return { kind: 's3', bucket: name, prefix: normalizePrefix(slash === -1 ? '' : decodeURIComponent(rest.slice(slash + 1))) };
  }
  if (source.startsWith('file://')) {
    let dir: string;
    try {
      dir = decodeURIComponent(new URL(source).pathname);
    } catch {
      throw new ConfigError(`source (ETL_SOURCE) ${source} is not a valid file:// URL: use file:///absolute/dir.`);
    }
    return { kind: 'local', dir };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new ConfigError(`source (ETL_SOURCE) ${source} has an unsupported scheme: use s3://, file:// or a plain path.`);
  }
  if (source) return { kind: 'local', dir: source };
  if (bucket) return { kind: 's3', bucket, prefix: normalizePrefix(folder) };
  if (folder) throw new ConfigError('s3_folder (S3_FOLDER) is set but s3_bucket (S3_BUCKET) is not: set the bucket.');
  return { kind: 'none' };
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

/** The old product wrote SQLAlchemy URLs (`postgresql+asyncpg://`); pg wants `postgresql://`. */
export function normalizeDatabaseUrl(url: string): string {
  if (!url) return '';
  let out = url.replace(/^postgres(ql)?\+asyncpg:\/\//, 'postgresql://');
  // asyncpg spells TLS as ?ssl=require; libpq-style URLs (pg) as sslmode=require.
  out = out.replace(/([?&])ssl=(disable|allow|prefer|require|verify-ca|verify-full)(?=&|$)/, '$1sslmode=$2');
  return out;
}

export { redactUrl } from '../secrets.ts';


// convict reports e.g. "pg_conn_string: must be a postgresql:// URL: value was \"…\"" and
// "configuration param 'foo' not declared in the schema". Rewrite into one sentence that names
// the key and never repeats a value (it may be a secret).
function describeValidation(error: unknown, file: string | undefined): string {
  const message = error instanceof Error ? error.message : String(error);
  const sentences: string[] = [];
  for (const line of message.split('\n').filter(Boolean)) {
    const unknown = /configuration param '([^']+)' not declared in the schema/.exec(line);
    if (unknown) {
      sentences.push(`Unknown configuration key "${unknown[1]}"${file ? ` in ${file}` : ''}: remove it or fix its spelling.`);
      continue;
    }
    const bad = /^([\w.]+): (.*?)(?:: value was .*)?$/.exec(line);
    if (bad) {
      const key = bad[1]!;
      const schemaEntry = (configSchema as Record<string, { env?: string }>)[key];
      const env = schemaEntry?.env ? ` (${schemaEntry.env})` : '';
      sentences.push(`Configuration key ${key}${env} ${bad[2]}.`);
      continue;
    }
    sentences.push(line);
  }
  return sentences.join(' ');
}
