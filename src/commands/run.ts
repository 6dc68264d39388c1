import { runPipeline } from '../pipeline/run.ts';
import { EXIT, type CommandContext } from './context.ts';

export const runHelp = `Usage: etl run [options]

Loads every new or changed export object from the source into Postgres, one transaction per
object, then writes the run summary. Exits 0 when every object loaded (quarantined rows are not a
failure), 1 when an object failed or the run could not go on. When another run holds the run lock,
it says so and exits 0 without touching data.`;

export async function runCommand(context: CommandContext): Promise<number> {
  const summary = await runPipeline(context.settings, context.logger, { signal: context.signal });
  if (summary.status === 'locked') return EXIT.ok;
  const { files, rows } = summary;
  context.logger.info(
    {
      summary: {
        status: summary.status,
        files,
        rows,
        rows_per_second: summary.rows_per_second,
        duration_seconds: summary.duration_seconds,
        failed_files: summary.failed_files,
        trace_id: summary.trace_id,
        summary_file: summary.summary_file,
      },
    },
    `run ${summary.status}: ${files.loaded} loaded, ${files.failed} failed, ${files.unchanged} unchanged, ${files.skipped} skipped; ` +
      `${rows.read} rows read, ${rows.loaded} loaded, ${rows.quarantined} quarantined`,
  );
  if (summary.error) context.logger.error(summary.error);
  return summary.status === 'ok' ? EXIT.ok : EXIT.failed;
}
