// `etl why TABLE KEY...`: where a row came from and why it is the row the table holds.
import { withDatabase } from '../load/database.ts';
import { requireCurrentSchema } from '../load/migrate.ts';
import { keySightings, objectLoads, quarantinedWithKey, rowByKey, runAt, valueIssuesAt, type KeyValues, type ObjectLoad } from '../load/reports.ts';
import { TARGET_TABLES, type TargetTable } from '../load/target-tables.ts';
import { EXPORT_COLUMNS } from '../model/export.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { EXIT, type CommandContext } from './context.ts';
import { readable } from './rejects.ts';

export const whyHelp = `Usage: etl why TABLE KEY... [--json] [options]

Why a row of a table says what it says: the row as loaded; the object, version and line it came
from, when that object was modified and loaded, and the run and trace of that load; why that
object won over the other objects the tables show carrying the key (the latest modified object
wins); and the quarantined rows and the values recorded as unfit for the same key. Reads only:
works with a read-only role.

  TABLE   ${TARGET_TABLES.map((table) => table.name).join(', ')}
  KEY     the table's key, one value per column:
${TARGET_TABLES.map((table) => `            ${table.name.padEnd(17)} ${table.key.join(' ')}`).join('\n')}
          an empty value ('') is NULL (sr_notes' SR Number or Note Date may be)
  --json  one JSON document

  etl why service_requests 10000001
  etl why parts_used 500000005 3AC80878799
  etl why sr_notes 12528480 '2023-02-14 08:43:37' 'Dispatch scheduled for next business day.'`;

const FIELD_OF_HEADER = new Map(EXPORT_COLUMNS.map((column) => [column.header, column.field]));

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$/;

/** The table and key of the command line, or a usage error (exit 2) with one sentence. */
export function whyTarget(positionals: readonly string[]): { table: TargetTable; key: KeyValues } {
  const [name, ...values] = positionals;
  if (name === undefined) throw new UsageError('etl why: name a table and a key, e.g. `etl why service_requests 10000001`; see `etl why --help`');
  const table = TARGET_TABLES.find((candidate) => candidate.name === name);
  if (!table) throw new UsageError(`etl why: there is no table "${name}"; the tables are ${TARGET_TABLES.map((candidate) => candidate.name).join(', ')}`);
  if (values.length !== table.key.length) {
    throw new UsageError(
      `etl why: the key of ${table.name} is ${table.key.length === 1 ? 'one value' : `${table.key.length} values`} (${table.key.join(', ')}), not ${values.length}; e.g. \`etl why ${table.name} ${table.key.map((column) => column.toUpperCase()).join(' ')}\``,
    );
  }
  const nullable = table.name === 'sr_notes';
  const key = values.map((value, at) => {
    const column = table.key[at]!;
    if (value === '') {
      if (nullable && column !== 'note_text') return null;
      throw new UsageError(`etl why: ${column} of ${table.name} is never empty; give its value`);
    }
    if (column === 'note_date' && !TIMESTAMP.test(value)) throw new UsageError(`etl why: note_date must be a timestamp such as 2023-02-14 08:43:37, not "${value}"`);
    return value;
  });
  return { table, key };
}

/** How a sighting's object stands against the row's, by the latest-wins rule (merge.ts). */
function against(winner: { object: string; modified: Date }, other: ObjectLoad | undefined, objectKey: string): string {
  if (objectKey === winner.object) return 'the same object (its latest line of the key wins)';
  if (!other) return 'not in the ledger';
  const a = other.last_modified.getTime();
  const b = winner.modified.getTime();
  if (a < b) return 'older: modified before the row\'s object, so it loses';
  if (a === b) return Buffer.compare(Buffer.from(objectKey), Buffer.from(winner.object)) < 0 ? 'as old: ties go to the greater key, and its key sorts first' : 'as old, its key sorts last: it should have won (reload it)';
  return other.status === 'loaded' ? 'newer, yet its row of this key was not kept (reload it to apply latest-wins again)' : `newer, but ${other.status} in the ledger`;
}

export async function whyCommand(context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs('why', context.args, { json: { type: 'boolean', default: false } }, true);
  const { table, key } = whyTarget(positionals);
  return withDatabase(context.settings, 'etl-why', async (client) => {
    await requireCurrentSchema(client);
    const row = await rowByKey(client, table, key);
    const keyText = key.map((value) => (value === null ? 'NULL' : value)).join(' ');
    if (!row) {
      const quarantined = await quarantinedWithKey(client, table, key, 1);
      context.logger.error(
        `${table.name} has no row with key ${keyText}${quarantined.length ? ` (quarantined rows hold it: \`etl rejects --object ${quarantined[0]!.object_key}\`)` : ''}`,
      );
      return EXIT.failed;
    }
    const source = { object: row['source_object'] as string, modified: row['source_modified'] as Date, line: row['source_line'] as number, loadedAt: row['loaded_at'] as Date };
    const sightings = (await keySightings(client, table, key)).filter((sighting) => !(sighting.object_key === source.object && sighting.line === source.line));
    const objects = [...new Set([source.object, ...sightings.map((sighting) => sighting.object_key)])];
    const ledger = new Map((await objectLoads(client, objects)).map((entry) => [entry.object_key, entry]));
    const own = ledger.get(source.object);
    const run = await runAt(client, source.loadedAt);
    const quarantined = await quarantinedWithKey(client, table, key);
    const fields = new Set<string>([...table.key, ...table.columns]);
    const issues = (await valueIssuesAt(client, [{ object_key: source.object, line: source.line }, ...sightings.map((sighting) => ({ object_key: sighting.object_key, line: sighting.line }))]))
      // Of this table's columns (the ledger names a value by its export header).
      .filter((issue) => fields.has(FIELD_OF_HEADER.get(issue.column_name) ?? ''));
    const others = objects
      .filter((object) => object !== source.object)
      .map((object) => ({
        object_key: object,
        last_modified: ledger.get(object)?.last_modified ?? null,
        lines: sightings.filter((sighting) => sighting.object_key === object).map((sighting) => ({ line: sighting.line, via: sighting.via })),
        outcome: against({ object: source.object, modified: source.modified }, ledger.get(object), object),
      }));
    const sameObject = sightings.filter((sighting) => sighting.object_key === source.object);
    const report = {
      table: table.name,
      key: Object.fromEntries(table.key.map((column, at) => [column, key[at]])),
      row: Object.fromEntries(Object.entries(row).filter(([column]) => fields.has(column))),
      source: {
        object_key: source.object,
        version: own?.loaded_version ?? null,
        line: source.line,
        last_modified: source.modified,
        loaded_at: source.loadedAt,
        run_id: run?.run_id ?? null,
        trace_id: run?.trace_id ?? null,
        ledger_status: own?.status ?? null,
        // The ledger keeps an object's latest load: when it is later than this row's, the object was
        // loaded again since and its new version no longer carried this key (the row stays).
        ...(own?.loaded_at && own.loaded_at.getTime() !== source.loadedAt.getTime() && { loaded_again_at: own.loaded_at }),
      },
      won: {
        rule: 'latest-wins: the row of the most recently modified object that carries the key (ties: the greater object key, byte by byte; inside one object, the later line)',
        other_lines_of_the_same_object: sameObject.map((sighting) => ({ line: sighting.line, via: sighting.via })),
        over: others,
      },
      quarantined: quarantined.map(({ raw_bytes, encoding, raw: _raw, ...rest }) => ({ ...rest, raw: readable(raw_bytes, encoding) })),
      value_issues: issues,
    };
    if (values.json) {
      context.print(JSON.stringify(report, null, 2));
      return EXIT.ok;
    }
    const width = Math.max(...Object.keys(report.row).map((column) => column.length));
    const time = (value: Date | null) => (value ? value.toISOString() : 'unknown');
    const lines = [`${table.name} ${keyText}`];
    for (const [column, value] of Object.entries(report.row)) lines.push(`  ${column.padEnd(width)}  ${value === null ? 'NULL' : String(value)}`);
    lines.push(
      'From',
      `  ${source.object} line ${source.line}${own?.loaded_version ? `, version ${own.loaded_version}` : ''}`,
      `  modified ${time(source.modified)}, loaded ${time(source.loadedAt)}${run ? ` by run ${run.run_id}${run.trace_id ? `, trace ${run.trace_id}` : ''}` : ''}`,
    );
    if (report.source.loaded_again_at) lines.push(`  the object was loaded again at ${time(report.source.loaded_again_at)}, its new version without this key: the row stays`);
    lines.push('Why this row', `  ${report.won.rule}`);
    if (others.length === 0 && sameObject.length === 0) lines.push('  no other object in the tables shows this key');
    for (const sighting of sameObject) lines.push(`  ${source.object} line ${sighting.line} (via ${sighting.via}): the same object`);
    for (const other of others) {
      lines.push(`  ${other.object_key} line ${other.lines.map((line) => `${line.line} (via ${line.via})`).join(', ')}: modified ${time(other.last_modified)}, ${other.outcome}`);
    }
    lines.push(quarantined.length ? 'Quarantined rows holding the key' : 'No quarantined row holds the key');
    for (const reject of report.quarantined) lines.push(`  ${reject.object_key}:${reject.line_number}  ${reject.reason}  ${reject.detail ?? ''}`, `      ${reject.raw.replace(/\n/g, '\n      ')}`);
    lines.push(issues.length ? 'Values recorded as unfit on these lines (stored NULL)' : 'No value on these lines was recorded as unfit');
    for (const issue of issues) lines.push(`  ${issue.object_key}:${issue.line_number}  ${issue.column_name}  ${JSON.stringify(issue.raw_value)}`);
    context.print(lines.join('\n'));
    return EXIT.ok;
  });
}
