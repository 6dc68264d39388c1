import { connectDatabase } from '../load/database.ts';
import { requestRetry } from '../load/ledger.ts';
import { migrate } from '../load/migrate.ts';
import { EXIT, type CommandContext } from './context.ts';

export const retryHelp = `Usage: etl retry KEY | --failed [options]

Marks an object (by its key, as \`etl status\` shows it) or every failed object to be loaded by the
next run, even before its retry delay has passed or when it has not changed.`;

export async function retryCommand(context: CommandContext): Promise<number> {
  const failed = context.args.includes('--failed');
  const keys = context.args.filter((arg) => arg !== '--failed');
  if (!failed && keys.length === 0) {
    context.print(retryHelp);
    return EXIT.config;
  }
  const client = await connectDatabase(context.settings.databaseUrl, 'etl-retry');
  try {
    await migrate(client);
    let marked = failed ? await requestRetry(client, { allFailed: true }) : 0;
    for (const key of keys) {
      const count = await requestRetry(client, { key });
      if (count === 0) context.logger.warn({ object_key: key }, 'no such object in the ledger');
      marked += count;
    }
    context.print(`${marked} object(s) will be loaded by the next run.`);
    return EXIT.ok;
  } finally {
    await client.end();
  }
}
