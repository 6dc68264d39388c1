import { withDatabase } from '../load/database.ts';
import { readLedger, requestReload } from '../load/ledger.ts';
import { migrate } from '../load/migrate.ts';
import { selects, type Selection } from '../pipeline/selection.ts';
import { EXIT, type CommandContext } from './context.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { runAndReport } from './run.ts';
import { SELECTION_HELP, SELECTION_OPTIONS, selectionFrom } from './selection-args.ts';

export const reloadHelp = `Usage: etl reload (PREFIX | --only GLOB | --all) [--since TIME] [--until TIME] [--quiet] [options]

Loads objects again that were loaded (or failed) before, now, the way a run loads them: one
transaction per object, exactly once. Each object's rows replace the rows it wrote before for
the same keys (a key it no longer has keeps its row: nothing is deleted), and latest-wins between
objects decides as always, so reloading objects in any order gives the same tables. Use it
after fixing a setting that changes how rows load, or to rebuild the tables from the source. Objects marked gone are not in the source and stay as they are. When another run holds
the run lock, the objects stay marked and the next run loads them.

  PREFIX          objects whose key starts with PREFIX (as \`etl status\` shows keys)
  --all           every object in the ledger that is still in the source
  --quiet         JSON log lines even on a terminal
${SELECTION_HELP}`;

export async function reloadCommand(context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs('reload', context.args, { all: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false }, ...SELECTION_OPTIONS }, true);
  if (positionals.length > 1) throw new UsageError('etl reload: give one PREFIX (or --only GLOB, or --all); see `etl reload --help`');
  const [prefix] = positionals;
  if (!values.all && prefix === undefined && values.only === undefined) throw new UsageError('etl reload: say what to reload: a PREFIX, --only GLOB or --all; see `etl reload --help`');
  if (values.all && (prefix !== undefined || values.only !== undefined)) throw new UsageError('etl reload: --all reloads everything; leave out PREFIX and --only, or leave out --all');
  const selection: Selection = { ...selectionFrom('reload', values), ...(prefix !== undefined && { prefix }) };
  const { settings } = context;
  const marked = await withDatabase(settings, 'etl-reload', async (client) => {
    await migrate(client, settings.databaseSchema);
    const keys = [...(await readLedger(client)).values()].filter((entry) => entry.status !== 'gone' && selects(selection, entry.objectKey, entry.lastModified)).map((entry) => entry.objectKey);
    return requestReload(client, keys);
  });
  context.logger.info({ objects: marked }, `${marked} object(s) marked to load again`);
  if (marked === 0) {
    context.print('No loaded or failed object matches: nothing to reload (`etl status` shows the keys).');
    return EXIT.ok;
  }
  return runAndReport(context, selection);
}
