import { withDatabase } from '../load/database.ts';
import { requireCurrentSchema } from '../load/migrate.ts';
import { failedFiles, filesByStatus, lastRun, tableCounts } from '../load/reports.ts';
import { runWorkers, sharedRunTotals } from '../load/shared-runs.ts';
import { parseCommandArgs } from './args.ts';
import { EXIT, type CommandContext } from './context.ts';

export const statusHelp = `Usage: etl status [--json] [options]

Shows the files per status (loaded, failed, gone) with their row accounts, the rows in each table,
the failed files and the last run (while it runs: its workers, and how many of its objects are
done). Reads only: works with a read-only role, and never changes the
schema (it says so when the schema is behind: run \`etl migrate\`).

  --json   machine-readable output`;

export async function statusCommand(context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('status', context.args, { json: { type: 'boolean', default: false } });
  return withDatabase(context.settings, 'etl-status', async (client) => {
    await requireCurrentSchema(client);
    const files = await filesByStatus(client);
    const tables = await tableCounts(client);
    const failed = await failedFiles(client);
    const last = await lastRun(client);
    // A shared run's workers, and its progress, from the objects it planned.
    const workers = last ? await runWorkers(client, last.run_id) : [];
    const totals = last?.status === 'running' && workers.length > 0 ? await sharedRunTotals(client, last.run_id) : undefined;
    const progress = totals && { objects: totals.objects, done: totals.objects - totals.to_do, loaded: totals.loaded, failed: totals.failed, rows_read: totals.rows_read };
    const byStatus = Object.fromEntries(files.map((row) => [row.status, row]));
    if (values.json) {
      const run = last && { ...last, ...(workers.length > 0 ? { workers } : {}), ...(progress ? { progress } : {}) };
      context.print(JSON.stringify({ files: byStatus, tables, failed_files: failed, last_run: run }, null, 2));
      return EXIT.ok;
    }
    const lines: string[] = ['Files'];
    for (const row of files) {
      lines.push(`  ${row.status.padEnd(8)} ${String(row.files).padStart(6)} files  ${row.rows_read} rows read = ${row.rows_loaded} loaded + ${row.rows_quarantined} quarantined`);
    }
    if (files.length === 0) lines.push('  none yet');
    lines.push('Tables');
    for (const [name, count] of Object.entries(tables)) lines.push(`  ${name.padEnd(17)} ${count}`);
    if (failed.length) {
      lines.push('Failed files');
      for (const row of failed) lines.push(`  ${row.object_key}: ${row.error_class} (${row.attempts} attempts) ${row.error_message ?? ''}`);
    }
    lines.push('Last run');
    lines.push(last ? `  ${last.status} ${last.started_at.toISOString()} run ${last.run_id}${last.trace_id ? ` trace ${last.trace_id}` : ''}` : '  none yet');
    if (progress) lines.push(`  ${progress.done} of ${progress.objects} objects done (${progress.loaded} loaded, ${progress.failed} failed), ${progress.rows_read} rows read`);
    for (const worker of workers) {
      const state = worker.left_at ? `${worker.status}, left ${worker.left_at.toISOString()}` : 'running';
      lines.push(`  worker ${worker.worker}${worker.planned ? ' (planned the run)' : ''}: ${worker.objects_done} objects, ${state}`);
    }
    context.print(lines.join('\n'));
    return EXIT.ok;
  });
}
