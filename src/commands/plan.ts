import { withDatabase } from '../load/database.ts';
import { requireCurrentSchema } from '../load/migrate.ts';
import { planSource } from '../pipeline/listing.ts';
import { selectionFields } from '../pipeline/selection.ts';
import { openSource } from '../sources/index.ts';
import { EXIT, type CommandContext } from './context.ts';
import { parseCommandArgs } from './args.ts';
import { SELECTION_HELP, SELECTION_OPTIONS, selectionFrom } from './selection-args.ts';

export const planHelp = `Usage: etl plan [--json] [--only GLOB] [--since TIME] [--until TIME] [options]

What the next \`etl run\` (with the same options) would do, and why, without changing anything:
the objects it would load (new, changed, back in the source, retry due, reload or retry
requested), the failed ones still waiting (until when), the unchanged ones, the skipped ones (not
exports) and the ones it would mark gone. Reads only: works with a read-only role.

  --json          one JSON document
${SELECTION_HELP}`;

export async function planCommand(context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('plan', context.args, { json: { type: 'boolean', default: false }, ...SELECTION_OPTIONS });
  const selection = selectionFrom('plan', values);
  const { settings } = context;
  return withDatabase(settings, 'etl-plan', async (client) => {
    await requireCurrentSchema(client);
    const source = await openSource(settings);
    try {
      const { plan, gone, listed, root, ledgerRoot } = await planSource(client, source, settings, selection, context.signal);
      const report = {
        source: root,
        ledger_source: ledgerRoot ?? root,
        selection: selectionFields(selection),
        listed,
        load: plan.load.map((object) => ({ key: object.key, reason: plan.reasons.get(object.key)!, size: object.size, last_modified: object.lastModified.toISOString(), version: object.version })),
        waiting: plan.waiting.map(({ object, until, errorClass }) => ({ key: object.key, error_class: errorClass, retry_after: until?.toISOString() ?? 'when the object changes' })),
        unchanged: plan.unchanged.length,
        skipped: plan.skipped,
        gone,
      };
      if (values.json) {
        context.print(JSON.stringify(report, null, 2));
        return EXIT.ok;
      }
      const megabytes = (plan.load.reduce((sum, object) => sum + object.size, 0) / 1e6).toFixed(1);
      const lines = [`Source ${root}${ledgerRoot && ledgerRoot !== root ? ` (inside the ledger's ${ledgerRoot})` : ''}: ${listed} objects listed`];
      lines.push(`Load ${plan.load.length} objects (${megabytes} MB)`);
      for (const item of report.load) lines.push(`  ${item.key}  ${item.reason}`);
      if (report.waiting.length) lines.push(`Failed, waiting ${report.waiting.length}`);
      for (const item of report.waiting) lines.push(`  ${item.key}  ${item.error_class ?? ''}  retry ${item.retry_after === 'when the object changes' ? 'when the object changes' : `after ${item.retry_after}`}`);
      lines.push(`Unchanged ${report.unchanged} objects`);
      if (report.skipped.length) lines.push(`Skipped ${report.skipped.length} (not exports)`);
      for (const item of report.skipped) lines.push(`  ${item.key}  ${item.reason}`);
      if (gone.length) lines.push(`Mark gone ${gone.length} (no longer in the source; their rows stay)`);
      for (const key of gone) lines.push(`  ${key}`);
      context.print(lines.join('\n'));
      return EXIT.ok;
    } finally {
      await source.close?.();
    }
  });
}
