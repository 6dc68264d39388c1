import { parseCommandArgs } from './args.ts';
import { SELECTION_HELP, SELECTION_OPTIONS, selectionFrom } from './selection-args.ts';
import type { Selection } from '../pipeline/selection.ts';
import { runPipeline, type RunSummary } from '../pipeline/run.ts';
import { steppedAside } from '../pipeline/summary.ts';
import { summaryTable } from './run-view.ts';
import { boundedList } from '../safe-text.ts';
import { sendRunMetrics } from '../telemetry/metrics.ts';
import { EXIT, type CommandContext } from './context.ts';

export const runHelp = `Usage: etl run [--only GLOB] [--since TIME] [--until TIME] [--quiet] [options]

Loads every new or changed export object from the source into Postgres, one transaction per
object, then writes the run summary. Exit codes: 0 every object loaded or unchanged (quarantined
rows are not a failure; also when another run holds the run lock: this one says so and touches
nothing), 1 the run could not go on (database or source unreachable, connection lost, stopped by
a signal), 3 objects failed, in this run or still from earlier ones (see failed_files_log.json,
\`etl status\`).

  --quiet         JSON log lines even on a terminal (they are the default without one: in Kubernetes)
${SELECTION_HELP}
See what a run would do first with \`etl plan\` (same options).
At a terminal, \`etl run\` shows a live progress bar, a line per object that failed or quarantined
rows, warnings and errors, and a summary table at the end; LOG_FORMAT=json or pretty keep log lines.`;

export async function runCommand(context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('run', context.args, { quiet: { type: 'boolean', default: false }, ...SELECTION_OPTIONS });
  return runAndReport(context, selectionFrom('run', values));
}

/** Failed objects named in the closing log line. */
const FAILED_IN_LOG_LINE = 10;

/** A run (etl run, etl reload), its summary for people or as a log line, its metrics and exit code. */
export async function runAndReport(context: CommandContext, selection: Selection): Promise<number> {
  const { view } = context;
  let summary: RunSummary;
  try {
    summary = await runPipeline(context.settings, context.logger, { signal: context.signal, observer: view, selection });
  } finally {
    view?.close();
  }
  if (steppedAside(summary)) {
    if (view) context.print(summary.status === 'locked' ? 'Another run holds the run lock: this one exits without touching data.' : 'The shared run this worker was started for is over: nothing is left to do.');
    return EXIT.ok;
  }
  const code = summary.shared ? workerExitCode(summary) : exitCode(summary);
  const { files, rows } = summary;
  if (view) {
    context.print(summaryTable(summary, code));
  } else {
    context.logger.info(
      {
        summary: {
          status: summary.status,
          files,
          rows,
          rows_per_second: summary.rows_per_second,
          duration_seconds: summary.duration_seconds,
          // The first ones (the summary file and failed_files_log.json hold them all): one line stays small.
          failed_files: summary.failed_files.slice(0, FAILED_IN_LOG_LINE).map((failed) => ({ ...failed, key: boundedList([failed.key])[0]!, message: boundedList([failed.message], 1, 300)[0]! })),
          ...(summary.failed_files.length > FAILED_IN_LOG_LINE ? { failed_files_more: summary.failed_files.length - FAILED_IN_LOG_LINE } : {}),
          trace_id: summary.trace_id,
          summary_file: summary.summary_file,
        },
      },
      `run ${summary.status}: ${files.loaded} loaded, ${files.failed} failed, ${files.unchanged} unchanged, ${files.skipped} skipped; ` +
        `${rows.read} rows read, ${rows.loaded} loaded, ${rows.quarantined} quarantined`,
    );
    if (summary.error) context.logger.error(summary.error);
  }
  const run = summary.shared ? summary.shared.run : summary;
  if (summary.shared?.run) {
    const { files: all, rows: allRows } = summary.shared.run;
    context.logger.info(
      { run_id: run!.run_id, run: { status: run!.status, files: all, rows: allRows, duration_seconds: run!.duration_seconds } },
      `shared run ${run!.status}: ${all.loaded} loaded, ${all.failed} failed by its workers; ${allRows.read} rows read, ${allRows.loaded} loaded, ${allRows.quarantined} quarantined`,
    );
  }
  // Once, at the end, before the process exits; bounded in time, never the run's failure. A shared
  // run's are the run's, sent by the last worker out (each object is counted once).
  if (run) await sendRunMetrics(run, exitCode(run));
  return code;
}

/**
 * A worker of a shared run: the last one out exits with the run's code, so that failed objects fail
 * the Job once, after the run (a Job's pod failing with 3 fails the Job at once: podFailurePolicy,
 * which would stop the other workers mid-run); the others exit 1 when they could not go on, else 0.
 */
function workerExitCode(summary: RunSummary): number {
  if (summary.shared?.run) return exitCode(summary.shared.run);
  return summary.status === 'aborted' || summary.error !== undefined ? EXIT.failed : EXIT.ok;
}

/** The exit code of a finished run (commands/context.ts: EXIT). */
export function exitCode(summary: RunSummary): number {
  if (steppedAside(summary)) return EXIT.ok;
  if (summary.status === 'aborted' || summary.error !== undefined) return EXIT.failed;
  if (summary.files.failed > 0 || summary.files.failed_in_ledger > 0) return EXIT.objectsFailed;
  return EXIT.ok;
}
