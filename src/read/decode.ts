// Bytes of an export object -> UTF-8 bytes for the CSV reader (spec, "Objects"):
// gzip is recognised by its magic bytes, a file that is not valid UTF-8 is Windows-1252, and a
// UTF-8 byte-order mark is dropped.
import { isAscii, isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

export type Encoding = 'utf-8' | 'windows-1252';

const GZIP_MAGIC = [0x1f, 0x8b];
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * The object's content with gzip undone. A gzip stream cut short (defect 4) gives what it holds,
 * and `onTruncated` is called once that is all.
 */
export async function* inflated(stream: Readable, onTruncated?: () => void): AsyncGenerator<Buffer> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first = await iterator.next();
  while (!first.done && first.value.length === 0) first = await iterator.next();
  if (first.done) return;
  let head: Buffer = first.value;
  // Two bytes decide; a 1-byte first chunk is rare but possible.
  while (head.length < 2) {
    const more = await iterator.next();
    if (more.done) break;
    head = Buffer.concat([head, more.value]);
  }
  const rest = async function* () {
    yield head;
    for (;;) {
      const step = await iterator.next();
      if (step.done) return;
      yield step.value;
    }
  };
  if (head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1]) {
    const gunzip = createGunzip();
    const feed = (async () => {
      try {
        for await (const chunk of rest()) {
          if (!gunzip.write(chunk)) await new Promise((resolve) => gunzip.once('drain', resolve));
        }
        gunzip.end();
      } catch (error) {
        gunzip.destroy(error as Error);
      }
    })();
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (error) {
      if ((error as { code?: string }).code !== 'Z_BUF_ERROR') throw error; // zlib: "unexpected end of file"
      onTruncated?.();
    }
    await feed;
  } else {
    yield* rest();
  }
}

/** Reads the whole content once and tells whether it is valid UTF-8. */
export async function detectEncoding(content: AsyncIterable<Buffer>): Promise<Encoding> {
  let carry: Buffer = Buffer.alloc(0);
  let multiByte = false; // a multi-byte character was seen
  for await (const chunk of content) {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const cut = completeUtf8Length(data);
    if (!isUtf8(data.subarray(0, cut))) return 'windows-1252';
    multiByte ||= !isAscii(data.subarray(0, cut));
    carry = Buffer.from(data.subarray(cut));
  }
  // An object cut inside its last character (defect 4) is still the UTF-8 it was before the cut.
  const cutCharacter = multiByte && carry.length > 0 && carry[0]! >= 0xc2 && carry[0]! <= 0xf4;
  return carry.length === 0 || isUtf8(carry) || cutCharacter ? 'utf-8' : 'windows-1252';
}

/** Length of the prefix that ends on a character boundary (a sequence may straddle chunks). */
function completeUtf8Length(data: Buffer): number {
  const n = data.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const byte = data[n - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: look further back
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? n - back : n;
  }
  return n;
}

/** UTF-8 bytes of the content, BOM dropped, Windows-1252 transcoded. */
export async function* utf8Content(content: AsyncIterable<Buffer>, encoding: Encoding): AsyncGenerator<Buffer> {
  // The first bytes are held until there are 3 of them: a BOM may straddle the first chunks.
  let head: Buffer | undefined = Buffer.alloc(0);
  const decoder = encoding === 'windows-1252' ? new TextDecoder('windows-1252') : undefined;
  for await (let chunk of content) {
    if (head !== undefined) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 3) continue;
      chunk = head.subarray(0, 3).equals(BOM) ? head.subarray(3) : head;
      head = undefined;
    }
    if (chunk.length === 0) continue;
    yield decoder ? Buffer.from(decoder.decode(chunk, { stream: true }), 'utf8') : chunk;
  }
  if (head !== undefined && head.length > 0) yield decoder ? Buffer.from(decoder.decode(head), 'utf8') : head;
}
