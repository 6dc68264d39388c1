import { withDatabase } from '../load/database.ts';
import { requireCurrentSchema } from '../load/migrate.ts';
import { quarantinedRows } from '../load/reports.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { utf8SequenceLength } from '../read/decode.ts';
import { EXIT, type CommandContext } from './context.ts';

export const rejectsHelp = `Usage: etl rejects [--object KEY] [--reason REASON] [--limit N] [--json] [options]

Lists quarantined rows: the object, version, line, reason and the row exactly as it was in the
object, newest objects first. Bytes that are not text (a NUL, a byte that is not UTF-8 in a UTF-8
export) show as \\xHH; --json gives both the readable text and the exact bytes (hex).

  --object KEY      only rows of this object
  --reason REASON   only this reason (SHORT_ROW, TRUNCATED_ROW, UNTERMINATED_QUOTE,
                    RECORD_TOO_LARGE, MALFORMED_CSV, EXTRA_FIELDS_NO_FIT, EXTRA_FIELDS_AMBIGUOUS,
                    INVALID_ENCODING, NUL_BYTE, KEY_TOO_LONG, VALUE_OUT_OF_RANGE, DATABASE_REJECTED)
  --limit N         at most N rows (default 100)
  --json            one JSON document`;

export async function rejectsCommand(context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('rejects', context.args, {
    object: { type: 'string' },
    reason: { type: 'string' },
    limit: { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`etl rejects: --limit must be a whole number above 0, not ${values.limit}`);
  return withDatabase(context.settings, 'etl-rejects', async (client) => {
    await requireCurrentSchema(client);
    const { rows, total } = await quarantinedRows(client, { object: values.object, reason: values.reason?.toUpperCase() }, limit);
    if (values.json) {
      const listed = rows.map(({ raw_bytes, encoding: _encoding, ...row }) => ({ ...row, raw_bytes_hex: raw_bytes.toString('hex') }));
      context.print(JSON.stringify({ total, rows: listed }, null, 2));
      return EXIT.ok;
    }
    if (rows.length === 0) {
      context.print('No quarantined rows match.');
      return EXIT.ok;
    }
    const lines = rows.map((row) => `${row.object_key}:${row.line_number}  ${row.reason}  ${row.detail ?? ''}\n    ${readable(row.raw_bytes, row.encoding).replace(/\n/g, '\n    ')}`);
    if (total > rows.length) lines.push(`(${total - rows.length} more; use --limit or filters)`);
    context.print(lines.join('\n'));
    return EXIT.ok;
  });
}

/** The exact bytes for a person: text in the object's encoding, \xHH for a byte that is not text. */
export function readable(bytes: Buffer, encoding: string | null): string {
  if (encoding === 'windows-1252') return [...new TextDecoder('windows-1252').decode(bytes)].map(shown).join('');
  let out = '';
  for (let at = 0; at < bytes.length; ) {
    const length = utf8SequenceLength(bytes, at);
    if (length === 0) {
      out += hex(bytes[at]!);
      at++;
      continue;
    }
    out += shown(bytes.toString('utf8', at, at + length));
    at += length;
  }
  return out;
}

/** A character as shown: control characters but tab and line break (NUL above all) as \xHH. */
function shown(char: string): string {
  const code = char.codePointAt(0)!;
  return (code < 0x20 && code !== 9 && code !== 10) || code === 0x7f ? hex(code) : char;
}

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0').toUpperCase()}`;
}
