// The layout of state_dir (the PVC in Kubernetes): every file and folder the runner keeps there,
// named in this one place.
//   tmp/                              partial S3 downloads kept for resuming (sources/spool.ts)
//   pipeline_summary_YYYYMMDD.json    the day's run summaries (pipeline/state-files.ts)
//   failed_files_log.json             the objects failed in the ledger, after each run
//   etl_pipeline.log, etl_errors.log  with log_files: the log lines, and the errors alone
//   demo/                             `etl demo`: its sample exports and embedded Postgres
import path from 'node:path';

export const PIPELINE_LOG = 'etl_pipeline.log';
export const ERRORS_LOG = 'etl_errors.log';

export const stateDirLayout = {
  spool: (stateDir: string) => path.resolve(stateDir, 'tmp'),
  summaryFile: (stateDir: string, day: Date) => path.join(stateDir, `pipeline_summary_${day.toISOString().slice(0, 10).replace(/-/g, '')}.json`),
  failedFilesLog: (stateDir: string) => path.join(stateDir, 'failed_files_log.json'),
  /** The folder of PIPELINE_LOG and ERRORS_LOG. */
  logs: (stateDir: string) => stateDir,
  demo: (stateDir: string) => path.resolve(stateDir, 'demo'),
};
