import { withDatabase } from '../load/database.ts';
import { migrate } from '../load/migrate.ts';
import { EXIT, type CommandContext } from './context.ts';
import { parseCommandArgs } from './args.ts';

export const migrateHelp = `Usage: etl migrate [options]

Creates or updates the tables (the five targets, etl_files, etl_rejects, etl_value_issues,
etl_runs). \`etl run\` does the same at its start; this is for doing it ahead of time.`;

export async function migrateCommand(context: CommandContext): Promise<number> {
  parseCommandArgs('migrate', context.args, {});
  return withDatabase(context.settings, 'etl-migrate', async (client) => {
    const applied = await migrate(client, context.settings.databaseSchema);
    context.logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'the database is up to date');
    return EXIT.ok;
  });
}
