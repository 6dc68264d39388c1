// The same export saved again the ways spreadsheets and older exporters save CSV (spec,
// "Objects"): bare-CR line breaks (Excel's "CSV (Macintosh)"), `;` (Excel in most European
// locales), tab or `|` as the delimiter, UTF-16 with a byte-order mark (Excel's "Unicode Text").
// The records are read back (read/csv-reader.ts) and written again field by field, quoted where
// the new delimiter needs it, so a load of the variant must give the tables the original gives.
// (Rows with unquoted commas, defect 1, would not: in a `;` export those commas are text, so the
// tests that compare variants leave that defect out, and objects cut short with it.)
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CsvReader, COMMA_LF } from '../read/csv-reader.ts';
import { inflated, profileContent, utf8Content } from '../read/decode.ts';

export type Variant = 'cr' | 'semicolon' | 'tab' | 'pipe' | 'utf-16le' | 'utf-16be' | 'excel-mac';

export const VARIANTS: readonly Variant[] = ['cr', 'semicolon', 'tab', 'pipe', 'utf-16le', 'utf-16be', 'excel-mac'];

const DELIMITER: Record<Variant, string> = { cr: ',', semicolon: ';', tab: '\t', pipe: '|', 'utf-16le': ',', 'utf-16be': ',', 'excel-mac': ';' };

/** An export object's bytes (any encoding, gzip or not) saved again as `variant`. */
export async function saveAs(body: Buffer, variant: Variant): Promise<Buffer> {
  const gzipped = body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
  const text = await contentText(gzipped ? gunzipSync(body) : body);
  const rewritten = rewrite(text, DELIMITER[variant], variant === 'cr' || variant === 'excel-mac' ? '\r' : '\n');
  let bytes: Buffer;
  if (variant === 'utf-16le') bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(rewritten.toString('utf8'), 'utf16le')]);
  else if (variant === 'utf-16be') bytes = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(rewritten.toString('utf8'), 'utf16le').swap16()]);
  else bytes = rewritten;
  return gzipped ? gzipSync(bytes) : bytes;
}

/** The content as UTF-8, its encoding decided as the loader decides it, the BOM dropped. */
async function contentText(bytes: Buffer): Promise<Buffer> {
  const { encoding } = await profileContent(inflated(Readable.from([bytes])));
  const chunks: Buffer[] = [];
  for await (const chunk of utf8Content(inflated(Readable.from([bytes])), encoding)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The records of comma/LF content written with another delimiter and line break, on the lines they were on. */
function rewrite(content: Buffer, delimiter: string, lineBreak: string): Buffer {
  const out: string[] = [];
  let line = 1;
  const needsQuotes = (value: string) => value.includes(delimiter) || value.includes('\n') || value.includes('\r') || value.startsWith('"');
  const reader = new CsvReader(
    {
      record: (record) => {
        for (; line < record.line; line++) out.push(lineBreak);
        const { fields } = record;
        const cells: string[] = [];
        for (let i = 0; i < fields.count; i++) {
          const value = fields.text(i);
          cells.push(fields.quoted[i] || needsQuotes(value) ? `"${value.replaceAll('"', '""')}"` : value);
        }
        out.push(cells.join(delimiter) + (record.atEndWithoutNewline ? '' : lineBreak));
        line = record.line + record.lineCount;
      },
      fault: (fault) => {
        for (; line < fault.line; line++) out.push(lineBreak);
        out.push(fault.rawBytes.toString('utf8') + lineBreak);
        line = fault.line + 1;
      },
    },
    { maxRecordBytes: 64 * 1024 * 1024, dialect: COMMA_LF },
  );
  reader.push(content);
  reader.end();
  return Buffer.from(out.join(''), 'utf8');
}
