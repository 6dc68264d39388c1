import { withDatabase } from '../load/database.ts';
import { schemaState } from '../load/migrate.ts';
import { serverVersion } from '../load/reports.ts';
import { isDataObjectKey } from '../model/export.ts';
import { openSource } from '../sources/index.ts';
import { redactUrl } from '../config/load.ts';
import { errorMessage } from '../pipeline/errors.ts';
import { EXIT, type CommandContext } from './context.ts';
import { parseCommandArgs } from './args.ts';

export const checkHelp = `Usage: etl check [--json] [options]

Checks the configuration, that the database answers (and which migrations are pending), and that
the source can be listed. Reads only: never changes the database. Exits 0 when all is well, 1 with
the reason otherwise, 2 for bad configuration.

  --json   one JSON document: {"ok", "configuration", "database", "source"}`;

interface CheckReport {
  ok: boolean;
  configuration: { config_file: string | null; state_dir: string; database: string; database_schema: string };
  database: { ok: boolean; server_version?: string; pending_migrations?: string[]; unknown_migrations?: string[]; error?: string };
  source: { ok: boolean; description?: string; objects?: number; data_objects?: number; error?: string };
}

export async function checkCommand(context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('check', context.args, { json: { type: 'boolean', default: false } });
  const { settings, logger } = context;
  const report: CheckReport = {
    ok: false,
    configuration: { config_file: settings.configFile ?? null, state_dir: settings.stateDir, database: redactUrl(settings.databaseUrl), database_schema: settings.databaseSchema },
    database: { ok: false },
    source: { ok: false },
  };
  if (!values.json) logger.info(report.configuration, 'configuration is valid');
  try {
    await withDatabase(settings, 'etl-check', async (client) => {
      const version = await serverVersion(client);
      const { pending, unknown } = await schemaState(client);
      report.database = { ok: unknown.length === 0, server_version: version, pending_migrations: pending, unknown_migrations: unknown };
      if (unknown.length > 0) report.database.error = `the database schema is newer than this etl (migrations it does not know: ${unknown.join(', ')})`;
    });
    if (!values.json) logger.info({ server_version: report.database.server_version, pending_migrations: report.database.pending_migrations }, 'database answers');
  } catch (error) {
    report.database = { ok: false, error: errorMessage(error) };
  }
  try {
    const source = await openSource(settings);
    try {
      await source.check();
      const objects = await source.list();
      report.source = { ok: true, description: source.description, objects: objects.length, data_objects: objects.filter((object) => isDataObjectKey(object.key)).length };
    } finally {
      await source.close?.();
    }
    if (!values.json) logger.info({ source: report.source.description, objects: report.source.objects, data_objects: report.source.data_objects }, 'source answers');
  } catch (error) {
    report.source = { ok: false, error: errorMessage(error) };
  }
  report.ok = report.database.ok && report.source.ok;
  if (values.json) {
    context.print(JSON.stringify(report, null, 2));
  } else if (report.ok) {
    context.print('check passed');
  } else {
    for (const part of [report.database, report.source]) if (part.error) logger.error(part.error);
    context.print('check failed');
  }
  return report.ok ? EXIT.ok : EXIT.failed;
}
