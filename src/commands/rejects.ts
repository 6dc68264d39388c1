import { parseArgs } from 'node:util';
import { connectDatabase } from '../load/database.ts';
import { migrate } from '../load/migrate.ts';
import { EXIT, type CommandContext } from './context.ts';

export const rejectsHelp = `Usage: etl rejects [--object KEY] [--reason REASON] [--limit N] [--json] [options]

Lists quarantined rows: the object, line, reason and raw text, newest objects first.

  --object KEY      only rows of this object
  --reason REASON   only this reason (SHORT_ROW, TRUNCATED_ROW, UNTERMINATED_QUOTE,
                    RECORD_TOO_LARGE, MALFORMED_CSV, EXTRA_FIELDS_NO_FIT, EXTRA_FIELDS_AMBIGUOUS)
  --limit N         at most N rows (default 100)
  --json            one JSON document`;

export async function rejectsCommand(context: CommandContext): Promise<number> {
  const { values } = parseArgs({
    args: context.args,
    options: { object: { type: 'string' }, reason: { type: 'string' }, limit: { type: 'string', default: '100' }, json: { type: 'boolean', default: false } },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit must be a whole number above 0, not ${values.limit}`);
  const client = await connectDatabase(context.settings.databaseUrl, 'etl-rejects');
  try {
    await migrate(client);
    const { rows } = await client.query<{ object_key: string; line_number: number; reason: string; detail: string | null; raw: string }>(
      `SELECT object_key, line_number, reason, detail, raw FROM etl_rejects
       WHERE ($1::text IS NULL OR object_key = $1) AND ($2::text IS NULL OR reason = $2)
       ORDER BY object_key, line_number LIMIT $3`,
      [values.object ?? null, values.reason?.toUpperCase() ?? null, limit],
    );
    const total = (
      await client.query<{ n: number }>(
        `SELECT count(*) AS n FROM etl_rejects WHERE ($1::text IS NULL OR object_key = $1) AND ($2::text IS NULL OR reason = $2)`,
        [values.object ?? null, values.reason?.toUpperCase() ?? null],
      )
    ).rows[0]!.n;
    if (values.json) {
      context.print(JSON.stringify({ total, rows }, null, 2));
      return EXIT.ok;
    }
    if (rows.length === 0) {
      context.print('No quarantined rows match.');
      return EXIT.ok;
    }
    const lines = rows.map((row) => `${row.object_key}:${row.line_number}  ${row.reason}  ${row.detail ?? ''}\n    ${row.raw.replace(/\n/g, '\n    ')}`);
    if (total > rows.length) lines.push(`(${total - rows.length} more; use --limit or filters)`);
    context.print(lines.join('\n'));
    return EXIT.ok;
  } finally {
    await client.end();
  }
}
