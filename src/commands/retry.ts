import { withDatabase } from '../load/database.ts';
import { requestRetry } from '../load/ledger.ts';
import { requireCurrentSchema } from '../load/migrate.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { EXIT, type CommandContext } from './context.ts';

export const retryHelp = `Usage: etl retry KEY | --failed [options]

Marks an object (by its key, as \`etl status\` shows it) or every failed object to be loaded by the
next run, even before its retry delay has passed or when it has not changed.`;

export async function retryCommand(context: CommandContext): Promise<number> {
  const { values, positionals: keys } = parseCommandArgs('retry', context.args, { failed: { type: 'boolean', default: false } }, true);
  const failed = values.failed;
  if (!failed && keys.length === 0) throw new UsageError('etl retry: name an object (its key, as `etl status` shows it) or give --failed; see `etl retry --help`');
  return withDatabase(context.settings, 'etl-retry', async (client) => {
    await requireCurrentSchema(client);
    let marked = failed ? await requestRetry(client, { allFailed: true }) : 0;
    for (const key of keys) {
      const count = await requestRetry(client, { key });
      if (count === 0) context.logger.warn({ object_key: key }, 'no such object in the ledger');
      marked += count;
    }
    context.print(`${marked} object(s) will be loaded by the next run.`);
    return EXIT.ok;
  });
}
