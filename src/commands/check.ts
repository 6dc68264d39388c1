import { connectDatabase } from '../load/database.ts';
import { listMigrations } from '../load/migrate.ts';
import { isDataObjectKey } from '../model/export.ts';
import { openSource } from '../sources/index.ts';
import { redactUrl } from '../config/load.ts';
import { EXIT, type CommandContext } from './context.ts';

export const checkHelp = `Usage: etl check [options]

Checks the configuration, that the database answers (and which migrations are pending), and that
the source can be listed. Exits 0 when all is well, 1 with the reason otherwise, 2 for bad
configuration.`;

export async function checkCommand(context: CommandContext): Promise<number> {
  const { settings, logger } = context;
  logger.info({ config_file: settings.configFile ?? null, state_dir: settings.stateDir, database: redactUrl(settings.databaseUrl) }, 'configuration is valid');
  const client = await connectDatabase(settings.databaseUrl, 'etl-check');
  try {
    const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    const exists = (await client.query<{ t: string | null }>(`SELECT to_regclass('etl_migrations')::text AS t`)).rows[0]!.t !== null;
    const applied = exists ? new Set((await client.query<{ name: string }>('SELECT name FROM etl_migrations')).rows.map((row) => row.name)) : new Set<string>();
    const pending = listMigrations().filter((migration) => !applied.has(migration.name)).map((migration) => migration.name);
    logger.info({ server_version: version, pending_migrations: pending }, 'database answers');
  } finally {
    await client.end();
  }
  const source = await openSource(settings);
  try {
    await source.check();
    const objects = await source.list();
    const data = objects.filter((object) => isDataObjectKey(object.key)).length;
    logger.info({ source: source.description, objects: objects.length, data_objects: data }, 'source answers');
  } finally {
    await source.close?.();
  }
  context.print('check passed');
  return EXIT.ok;
}
