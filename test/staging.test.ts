// The COPY text that carries every loaded value into Postgres: whatever a value holds (tabs,
// line breaks, backslashes, "\N" as text, characters outside the BMP, very long text), the real
// server must read back exactly that value, and NULL must stay NULL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { CopyBatch } from '../src/load/staging.ts';
import { databaseUrl } from './helpers/services.ts';

const VALUES: (string | null)[][] = [
  ['plain', null, ''],
  ['tab\there', 'line\nbreak', 'carriage\rreturn'],
  ['back\\slash', '\\N', 'ends with \\'],
  ['café ñ ü', '日本語のテキスト', 'emoji 🛠️ and 𝔘'],
  ['x'.repeat(300_000), 'é'.repeat(200_000), null],
  ['\r\n\t\\', ' ', 'trailing tab\t'],
];

async function roundTrip(chunks: Buffer[]): Promise<{ line: number; a: string | null; b: string | null; c: string | null }[]> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    await client.query('CREATE TEMPORARY TABLE copy_check (line integer, a text, b text, c text)');
    const copy = client.query(copyFrom('COPY copy_check (line, a, b, c) FROM STDIN'));
    for (const chunk of chunks) copy.write(chunk);
    copy.end();
    await once(copy, 'finish');
    return (await client.query('SELECT line, a, b, c FROM copy_check ORDER BY line')).rows;
  } finally {
    await client.end();
  }
}

describe('COPY text batches', () => {
  test('every value reads back from Postgres exactly as written, NULL as NULL', async () => {
    // A small first buffer, so that the long values make it grow.
    const batch = new CopyBatch(64);
    VALUES.forEach((values, index) => batch.add(index + 1, values));
    const rows = await roundTrip([Buffer.from(batch.view())]);
    assert.deepEqual(
      rows.map((row) => [row.a, row.b, row.c]),
      VALUES,
    );
    assert.deepEqual(
      rows.map((row) => row.line),
      VALUES.map((_, index) => index + 1),
    );
  });

  test('clear() starts an empty batch in the same buffer; rows written after it read back whole', async () => {
    const batch = new CopyBatch(16);
    batch.add(1, VALUES[0]!);
    const first = Buffer.from(batch.view());
    batch.clear();
    assert.equal(batch.bytes, 0);
    batch.add(2, VALUES[3]!);
    batch.add(3, VALUES[1]!);
    const second = Buffer.from(batch.view());
    const rows = await roundTrip([first, second]);
    assert.deepEqual(
      rows.map((row) => [row.line, row.a, row.b, row.c]),
      [
        [1, ...VALUES[0]!],
        [2, ...VALUES[3]!],
        [3, ...VALUES[1]!],
      ],
    );
  });
});
