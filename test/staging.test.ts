// The binary staging records that carry every loaded value into Postgres (src/read/stage-encoder.ts,
// through the real COPY path of src/load/stage-copies.ts): whatever a value holds (tabs, line
// breaks, backslashes, "\N" as text, characters outside the BMP, very long text), the real server
// must read back exactly the text the reading rules give (read/values.ts); a timestamp as Postgres
// reads that text, a number as numeric_in reads it; NULL must stay NULL; a quarantined row's bytes
// exactly as they came, NUL and invalid UTF-8 included.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import pg from 'pg';
import { readExport, readExportInto, type ExportSink, type RowEvent } from '../src/read/export-reader.ts';
import { BatchStage } from '../src/read/stage-encoder.ts';
import { StageCopies } from '../src/load/stage-copies.ts';
import { createStage, stagedColumns, stageOf } from '../src/load/staging.ts';
import { TARGET_TABLES, valueIndex } from '../src/load/target-tables.ts';
import { EXPORT_COLUMNS } from '../src/model/export.ts';
import { csvLine, HEADERS, sampleRow } from './helpers/read.ts';
import { databaseUrl } from './helpers/services.ts';

const TEXTS = ['plain', 'tab\there', 'line\nbreak', 'carriage\rreturn', 'back\\slash', '\\N', 'ends with \\', 'café ñ ü', '日本語のテキスト', 'emoji 🛠️ and 𝔘', 'x'.repeat(300_000), 'é'.repeat(100_000), '\r\n\t\\', ' ', 'trailing tab\t', '"quoted"', ''];
const TIMESTAMPS = ['0001-01-01 00:00:00', '1999-12-31 23:59:59', '2000-01-01 00:00:00', '2000-01-01 00:00:01', '1969-07-20 20:17:40', '2024-02-29 12:00:00', '9999-12-31 23:59:59', '04/05/2023 12:30:15 AM', '05-apr-1999 13:22:10', '4/5/2023 1:22:10 PM', ''];
const NUMBERS = ['0', '-0', '1', '1.0', '+3', '-17.25', '.5', '5.', '0001.2300', '999999999.99', '0.001', '10000', '123456789012345678901234567890.123456789', '9'.repeat(1000), `1.${'7'.repeat(999)}`, '-0.0000', ''];

/** An export whose rows carry the values above in SR Summary, the timestamp columns and Quantity Used. */
function exportBody(): Buffer {
  const count = Math.max(TEXTS.length, TIMESTAMPS.length, NUMBERS.length);
  const lines = [HEADERS.join(',')];
  for (let i = 0; i < count; i++) {
    lines.push(
      csvLine(
        HEADERS,
        sampleRow({
          'SR Number': String(1_000_000 + i),
          'Task Number': String(5_000_000 + i),
          'Account Number': `000${100 + i}`,
          'SR Summary': TEXTS[i % TEXTS.length]!,
          'Note Text': `note ${TEXTS[i % TEXTS.length]!}`,
          'Created Date': TIMESTAMPS[i % TIMESTAMPS.length]!,
          'Note Date': TIMESTAMPS[(i + 3) % TIMESTAMPS.length]!,
          'Quantity Used': NUMBERS[i % NUMBERS.length]!,
        }),
      ),
    );
  }
  // Quarantined rows: one with a NUL, one with an invalid byte (a damaged UTF-8 export), a short one.
  return Buffer.concat([Buffer.from(lines.join('\n') + '\n'), Buffer.from('1,short row\n'), Buffer.from('2,nul\u0000byte\n'), Buffer.concat([Buffer.from('3,bad '), Buffer.from([0xff]), Buffer.from(' byte\n')])]);
}

async function withStage<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    await client.query('BEGIN');
    await createStage(client);
    return await work(client);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    await client.end();
  }
}

/** The object staged as the worker stages it and copied into the session's staging tables. */
async function stageInto(client: pg.Client, body: Buffer, chunkBytes: number): Promise<void> {
  const stage = new BatchStage(chunkBytes);
  stage.startObject(1);
  const sink: ExportSink = { header: () => {}, row: (ordinal, line, values) => stage.addRow(ordinal, line, values), reject: (ordinal, reject) => stage.addReject(ordinal, reject) };
  for await (const _ of readExportInto(() => Readable.from([body]), {}, sink));
  const copies = new StageCopies(client);
  for (const chunk of stage.take()) await copies.write(chunk.stage, Buffer.from(chunk.bytes), chunk.ordinals, chunk.attempts);
  await copies.end();
}

describe('binary staging records', () => {
  for (const chunkBytes of [256 * 1024, 4096]) {
    test(`every value reads back from Postgres as the reading rules give it, NULL as NULL (chunks of ${chunkBytes} bytes)`, async () => {
      const body = exportBody();
      const rows: RowEvent[] = [];
      for await (const event of readExport(() => Readable.from([body]))) if (event.type === 'row') rows.push(event);
      await withStage(async (client) => {
        await stageInto(client, body, chunkBytes);
        // What Postgres makes of the text the reading rules give: the oracle for timestamps and numbers.
        const parsed = async (type: string, text: string | null) => (text === null ? null : (await client.query<{ v: string }>(`SELECT $1::${type}::text AS v`, [text])).rows[0]!.v);
        for (const table of TARGET_TABLES) {
          const columns = stagedColumns(table);
          const staged = await client.query<Record<string, string | null>>(`SELECT line_number, object_index, ${columns.map((column) => `${column}::text`).join(', ')} FROM ${stageOf(table)} ORDER BY line_number`);
          const yielding = rows.filter((row) => table.requires.every((field) => row.values[valueIndex(field)] !== null));
          assert.equal(staged.rows.length, yielding.length, `${table.name}: one record per row (every key differs)`);
          for (const [index, row] of yielding.entries()) {
            const got = staged.rows[index]!;
            assert.equal(Number(got.line_number), row.line);
            assert.equal(Number(got.object_index), 1);
            for (const column of columns) {
              const kind = EXPORT_COLUMNS[valueIndex(column)]!.kind;
              const text = row.values[valueIndex(column)]!;
              const want = kind === 'timestamp' ? await parsed('timestamp', text) : kind === 'number' ? await parsed('numeric', text) : text;
              assert.equal(got[column], want, `${table.name}.${column} of line ${row.line}`);
            }
          }
        }
        const rejects = await client.query<{ raw: Buffer; raw_text: string; reason: string; line_number: number }>(`SELECT raw, raw_text, reason, line_number FROM etl_stage WHERE record_kind = 'q' ORDER BY line_number`);
        const lines = body.toString('latin1').split('\n');
        assert.deepEqual(rejects.rows.map((reject) => reject.reason), ['SHORT_ROW', 'NUL_BYTE', 'INVALID_ENCODING']);
        for (const reject of rejects.rows) assert.ok(reject.raw.equals(Buffer.from(lines[reject.line_number - 1]!, 'latin1')), `the bytes of line ${reject.line_number} exactly`);
        assert.equal(rejects.rows[1]!.raw_text, '2,nul\uFFFDbyte');
      });
    });
  }

  test('value issues are staged one per value, with the column and the raw text', async () => {
    const body = Buffer.from(`${HEADERS.join(',')}\n${csvLine(HEADERS, sampleRow({ 'Created Date': '31/31/2023 99:00:00', 'Quantity Used': 'two', 'Serial Number': 'SN-1\t2' }))}\n`);
    await withStage(async (client) => {
      await stageInto(client, body, 4096);
      const issues = await client.query<{ issue_column: string; issue_value: string }>(`SELECT issue_column, issue_value FROM etl_stage WHERE record_kind = 'i' ORDER BY issue_column`);
      assert.deepEqual(issues.rows, [
        { issue_column: 'Created Date', issue_value: '31/31/2023 99:00:00' },
        { issue_column: 'Quantity Used', issue_value: 'two' },
        { issue_column: 'Serial Number', issue_value: 'SN-1\t2' },
      ]);
    });
  });
});
