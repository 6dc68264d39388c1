import { connectDatabase } from '../load/database.ts';
import { requireCurrentSchema } from '../load/migrate.ts';
import { parseCommandArgs } from './args.ts';
import { TARGET_TABLES } from '../load/target-tables.ts';
import { EXIT, type CommandContext } from './context.ts';

export const statusHelp = `Usage: etl status [--json] [options]

Shows the files per status (loaded, failed, gone) with their row accounts, the rows in each table,
the failed files and the last run. Reads only: works with a read-only role, and never changes the
schema (it says so when the schema is behind: run \`etl migrate\`).

  --json   machine-readable output`;

export async function statusCommand(context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('status', context.args, { json: { type: 'boolean', default: false } });
  const client = await connectDatabase(context.settings.databaseUrl, 'etl-status', undefined, context.settings.databaseSchema);
  try {
    await requireCurrentSchema(client);
    const files = (
      await client.query<{ status: string; files: number; rows_read: number; rows_loaded: number; rows_quarantined: number }>(
        `SELECT status, count(*) AS files, coalesce(sum(rows_read), 0) AS rows_read, coalesce(sum(rows_loaded), 0) AS rows_loaded,
                coalesce(sum(rows_quarantined), 0) AS rows_quarantined
         FROM etl_files GROUP BY status ORDER BY status`,
      )
    ).rows;
    const tables: Record<string, number> = {};
    for (const table of TARGET_TABLES) {
      // Table names are constants of the model, never data.
      tables[table.name] = (await client.query<{ n: number }>(`SELECT count(*) AS n FROM ${table.name}`)).rows[0]!.n;
    }
    const failed = (
      await client.query(`SELECT object_key, error_class, error_message, attempts, next_attempt_at FROM etl_files WHERE status = 'failed' ORDER BY object_key`)
    ).rows;
    const lastRun =
      (await client.query(`SELECT run_id, started_at, finished_at, status, trace_id, summary->'files' AS files, summary->'rows' AS rows FROM etl_runs ORDER BY started_at DESC LIMIT 1`))
        .rows[0] ?? null;
    const filesByStatus = Object.fromEntries(files.map((row) => [row.status, row]));
    if (values.json) {
      context.print(JSON.stringify({ files: filesByStatus, tables, failed_files: failed, last_run: lastRun }, null, 2));
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
    lines.push(lastRun ? `  ${lastRun.status} ${new Date(lastRun.started_at).toISOString()} run ${lastRun.run_id}${lastRun.trace_id ? ` trace ${lastRun.trace_id}` : ''}` : '  none yet');
    context.print(lines.join('\n'));
    return EXIT.ok;
  } finally {
    await client.end();
  }
}
