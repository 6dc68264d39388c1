// The configuration schema (convict). File keys keep the old product's settings.json names
// (s3_bucket, s3_folder, aws_*, pg_conn_string) so existing files load unchanged.
// Precedence (convict): defaults < config file < environment < command-line arguments.
import convict from 'convict';

export const configSchema = {
  source: {
    doc: 'Where the exports are: s3://bucket/prefix/, file:///abs/dir or a plain path. When empty, s3_bucket and s3_folder are used.',
    format: String,
    default: '',
    env: 'ETL_SOURCE',
    arg: 'source',
  },
  s3_bucket: { doc: 'S3 bucket (old settings.json key; used when source is empty).', format: String, default: '', env: 'S3_BUCKET' },
  s3_folder: { doc: 'Prefix inside the bucket (old settings.json key).', format: String, default: '', env: 'S3_FOLDER' },
  aws_region: { doc: 'AWS region of the bucket.', format: String, default: 'us-east-2', env: 'AWS_REGION' },
  aws_access_key_id: {
    doc: 'AWS access key id. Optional: without it the SDK default chain applies (IRSA, environment, profile).',
    format: String,
    default: '',
    env: 'AWS_ACCESS_KEY_ID',
    sensitive: true,
  },
  aws_secret_access_key: { doc: 'AWS secret access key (optional, see aws_access_key_id).', format: String, default: '', env: 'AWS_SECRET_ACCESS_KEY', sensitive: true },
  s3_endpoint: { doc: 'Endpoint of an S3-compatible server (MinIO); empty for AWS.', format: String, default: '', env: 'S3_ENDPOINT' },
  s3_force_path_style: { doc: 'Path-style S3 addressing, needed by most S3-compatible servers.', format: 'flag', default: false, env: 'S3_FORCE_PATH_STYLE' },
  pg_conn_string: {
    doc: 'PostgreSQL connection URL (postgresql://… ; the old postgresql+asyncpg:// form is accepted).',
    format: 'pg-url',
    default: '',
    env: 'DATABASE_URL',
    arg: 'database-url',
    sensitive: true,
  },
  database_schema: {
    doc: "Postgres schema of the etl's tables (targets, ledger, quarantine, runs), created when missing. Two installs with different sources on one database each use a schema of their own: they never touch each other's ledger, and each has its own run lock.",
    format: 'sql-identifier',
    default: 'public',
    env: 'ETL_DATABASE_SCHEMA',
  },
  state_dir: { doc: 'Folder for temporary downloads, run summaries and the failed-files log (the PVC in Kubernetes).', format: String, default: './state', env: 'ETL_STATE_DIR', arg: 'state-dir' },
  log_level: { doc: 'Log level.', format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', env: 'LOG_LEVEL', arg: 'log-level' },
  log_format: { doc: 'json, pretty, or auto (pretty when stdout is a terminal).', format: ['auto', 'json', 'pretty'], default: 'auto', env: 'LOG_FORMAT' },
  log_files: { doc: 'Also write etl_pipeline.log and etl_errors.log under state_dir.', format: 'flag', default: false, env: 'ETL_LOG_FILES' },
  progress_interval_seconds: { doc: 'Seconds between progress lines.', format: 'positive-number', default: 10, env: 'ETL_PROGRESS_INTERVAL' },
  reject_threshold: {
    doc: 'Share of a file\'s rows that may be quarantined before the whole file fails as CSV_FORMAT_ERROR (0..1).',
    format: 'share',
    default: 0.5,
    env: 'ETL_REJECT_THRESHOLD',
  },
  reject_threshold_min_rows: {
    doc: 'A file fails on reject_threshold only when at least this many of its rows are quarantined, so a tiny truncated file still loads.',
    format: 'nat',
    default: 5,
    env: 'ETL_REJECT_THRESHOLD_MIN_ROWS',
  },
  source_omits_final_newline: {
    doc: 'The source omits the line break after the last row, so a complete last row without one loads. Off by default: the Toshiba exporter ends every row with a line break, so a last row without one was cut and is quarantined as TRUNCATED_ROW.',
    format: 'flag',
    default: false,
    env: 'ETL_SOURCE_OMITS_FINAL_NEWLINE',
  },
  max_record_bytes: {
    doc: 'Longest record read. A quoted field running past it has its first line quarantined (RECORD_TOO_LARGE) and the rest read again; a single line longer than this fails the object as CSV_FORMAT_ERROR. Bounds memory.',
    format: 'positive-int',
    default: 16 * 1024 * 1024,
    env: 'ETL_MAX_RECORD_BYTES',
  },
  max_gzip_ratio: {
    doc: 'A .gz object may inflate to at most this many times its size (at least 64 MiB); beyond that it fails as CSV_FORMAT_ERROR (a gzip bomb). Exports compress 5 to 20 times.',
    format: 'positive-number',
    default: 100,
    env: 'ETL_MAX_GZIP_RATIO',
  },
  max_rejects_per_object: {
    doc: 'An object with more quarantined rows than this stops being read and fails as CSV_FORMAT_ERROR (the first ones stay visible in etl rejects). Bounds the quarantine of an object that is not an export.',
    format: 'positive-int',
    default: 100_000,
    env: 'ETL_MAX_REJECTS_PER_OBJECT',
  },
  db_statement_timeout_seconds: {
    doc: 'Longest a statement (the COPY or a merge of one object) may run; Postgres cancels it and the object is retried later. A connection that gives no answer for this long plus a tenth and 5 s is given up (the run stops).',
    format: 'positive-number',
    default: 3600,
    env: 'ETL_DB_STATEMENT_TIMEOUT',
  },
  db_lock_timeout_seconds: { doc: 'Longest a statement waits for a row lock held by another load or session; the object is then retried later.', format: 'positive-number', default: 600, env: 'ETL_DB_LOCK_TIMEOUT' },
  db_idle_in_transaction_timeout_seconds: {
    doc: 'Postgres ends a session of this runner that sits idle inside a transaction this long (a hung runner cannot hold locks forever).',
    format: 'positive-number',
    default: 600,
    env: 'ETL_DB_IDLE_IN_TRANSACTION_TIMEOUT',
  },
  db_health_check_seconds: {
    doc: 'How often the run checks that the connection holding the run lock still answers; no answer within that time stops the run (the lock may be gone).',
    format: 'positive-number',
    default: 30,
    env: 'ETL_DB_HEALTH_CHECK',
  },
  spool_max_age_hours: { doc: 'Partial S3 downloads kept for resuming are removed after this many hours.', format: 'positive-number', default: 72, env: 'ETL_SPOOL_MAX_AGE_HOURS' },
  spool_max_bytes: {
    doc: 'Partial S3 downloads kept for resuming may take at most this many bytes of state_dir; the oldest go first.',
    format: 'nat',
    default: 2 * 1024 * 1024 * 1024,
    env: 'ETL_SPOOL_MAX_BYTES',
  },
  load_concurrency: {
    doc: 'Batches of objects loaded at the same time, each on its own database connection and parsing thread (reading one while Postgres merges another).',
    format: 'nat',
    default: 2,
    env: 'ETL_LOAD_CONCURRENCY',
  },
  run_id: {
    doc: 'Processes started with the same run id share one run (any text; the chart sets it from the Job): one plans it, all of them load its objects, each object once. Empty: a run of its own, as one process.',
    format: String,
    default: '',
    env: 'ETL_RUN_ID',
  },
  retry_base_seconds: { doc: 'Delay before the first retry of a failed file; doubles with each attempt.', format: 'nat', default: 300, env: 'ETL_RETRY_BASE_SECONDS' },
  retry_max_seconds: { doc: 'Longest delay between retries of a failed file.', format: 'nat', default: 86400, env: 'ETL_RETRY_MAX_SECONDS' },
} as const;

convict.addFormat({
  name: 'pg-url',
  validate(value: unknown) {
    if (value === '') return;
    if (typeof value !== 'string' || !/^postgres(ql)?(\+asyncpg)?:\/\//.test(value)) {
      // Never echo the value: it carries a password.
      throw new Error('must be a postgresql:// URL');
    }
  },
});
// A schema name used in search_path and CREATE SCHEMA: plain lower-case identifiers only, so it is
// never quoted or escaped.
convict.addFormat({
  name: 'sql-identifier',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(value)) throw new Error('must be a lower-case identifier: letters, digits and _, not starting with a digit');
  },
});
// convict's Boolean turns every string but "false" into true (S3_FORCE_PATH_STYLE=0 would be true).
convict.addFormat({
  name: 'flag',
  validate(value: unknown) {
    if (typeof value !== 'boolean') throw new Error('must be true or false');
  },
  coerce(value: unknown) {
    if (typeof value === 'boolean') return value;
    const text = String(value).trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(text)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(text)) return false;
    return value;
  },
});
convict.addFormat({
  name: 'share',
  validate(value: unknown) {
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new Error('must be a number from 0 to 1');
  },
  coerce: (value: unknown) => Number(value),
});
convict.addFormat({
  name: 'positive-int',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error('must be a whole number greater than 0');
  },
  coerce: (value: unknown) => Number(value),
});
convict.addFormat({
  name: 'positive-number',
  validate(value: unknown) {
    if (typeof value !== 'number' || !(value > 0)) throw new Error('must be a number greater than 0');
  },
  coerce: (value: unknown) => Number(value),
});

export type ConfigSchema = typeof configSchema;
