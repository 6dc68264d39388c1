// Bytes of an export object -> UTF-8 bytes for the CSV reader (spec, "Objects"): gzip is
// recognised by its magic bytes (and bounded: a gzip bomb fails the object), UTF-16 by its
// byte-order mark (a spreadsheet's "Unicode Text"), any other encoding is decided over the whole
// object (valid UTF-8; Windows-1252; or UTF-8 damaged by a few stray bytes), and a UTF-8
// byte-order mark is dropped.
import { isAscii, isUtf8 } from 'node:buffer';
import { constants, createGunzip } from 'node:zlib';

export type Encoding = 'utf-8' | 'windows-1252' | 'utf-16le' | 'utf-16be';

const GZIP_MAGIC = [0x1f, 0x8b];
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The gzip stream inflates beyond its bound (a gzip bomb, or far more than exports compress). */
export class InflateLimitError extends Error {
  override name = 'InflateLimitError';
  readonly code = 'INFLATE_LIMIT';
}

export interface InflateOptions {
  /** Called once when a gzip stream cut short has given all it holds (defect 4). */
  onTruncated?: () => void;
  /** Inflating more than this many bytes fails with InflateLimitError. */
  maxInflatedBytes?: number;
}

/**
 * The object's content with gzip undone. A gzip stream cut short (defect 4) gives what it holds,
 * and `onTruncated` is called once that is all.
 */
export async function* inflated(stream: AsyncIterable<Buffer>, options: InflateOptions = {}): AsyncGenerator<Buffer> {
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
        // A cut stream errors at end(), and an errored stream drops what it inflated but nobody
        // read yet (a reader that paused: the encoding pass, COPY's backpressure): so all output
        // is pushed and read first, and only then the end is told.
        await new Promise<void>((resolve) => gunzip.flush(constants.Z_SYNC_FLUSH, () => resolve()));
        while (gunzip.readableLength > 0 && !gunzip.destroyed) await new Promise((resolve) => setTimeout(resolve, 2));
        gunzip.end();
      } catch (error) {
        gunzip.destroy(error as Error);
      }
    })();
    const limit = options.maxInflatedBytes ?? Infinity;
    let total = 0;
    try {
      for await (const chunk of gunzip) {
        total += (chunk as Buffer).length;
        if (total > limit) {
          throw new InflateLimitError(`the gzip stream inflates to more than ${limit} bytes (max_gzip_ratio times its size); a gzip bomb, or raise max_gzip_ratio`);
        }
        yield chunk as Buffer;
      }
    } catch (error) {
      if ((error as { code?: string }).code !== 'Z_BUF_ERROR') {
        gunzip.destroy();
        throw error;
      }
      options.onTruncated?.(); // zlib: "unexpected end of file"
    }
    await feed;
  } else {
    yield* rest();
  }
}

/** What the first pass over an object learns: its encoding, and what the reading must watch for. */
export interface ContentProfile {
  encoding: Encoding;
  /** Mostly valid UTF-8 with a few invalid byte sequences: rows holding one are quarantined. */
  damaged: boolean;
  /** A NUL byte somewhere (Postgres text cannot hold one): rows holding one are quarantined. */
  hasNul: boolean;
}

/**
 * Reads the whole content once (spec, "Objects"): valid UTF-8 is UTF-8; content whose invalid
 * bytes are at least as many as its valid multi-byte sequences is Windows-1252; content with fewer
 * invalid bytes is a damaged UTF-8 export, read as UTF-8 with its damaged rows quarantined.
 */
export async function profileContent(content: AsyncIterable<Buffer>): Promise<ContentProfile> {
  const census = new Utf8Census();
  let hasNul = false;
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of content) {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const cut = completeUtf8Length(data);
    census.scan(data.subarray(0, cut));
    hasNul ||= data.indexOf(0) !== -1;
    carry = Buffer.from(data.subarray(cut));
  }
  // An object cut inside its last character (defect 4) is still the UTF-8 it was before the cut:
  // in UTF-8 text, a valid beginning of a sequence at the very end is not counted as invalid.
  if (carry.length > 0 && !(census.multiByte > 0 && isTruncatedSequence(carry))) census.scan(carry);
  const { invalid, multiByte } = census;
  if (invalid === 0) return { encoding: 'utf-8', damaged: false, hasNul };
  if (invalid >= multiByte) return { encoding: 'windows-1252', damaged: false, hasNul };
  return { encoding: 'utf-8', damaged: true, hasNul };
}

/**
 * Content that is not plain UTF-8 (an invalid byte sequence or a NUL): the object must be read
 * again, its whole content profiled first (profileContent).
 */
export class NeedsProfileError extends Error {
  override name = 'NeedsProfileError';
  readonly code = 'NEEDS_PROFILE';
}

/**
 * The content as it streams, checked to be valid UTF-8 without a NUL: almost every export is, and
 * then one pass is enough (profiling first reads and inflates the whole object twice). Throws
 * NeedsProfileError before the first chunk that is not, so everything passed on is plain UTF-8.
 */
export async function* checkedUtf8(content: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  let multiByte = false;
  for await (const chunk of content) {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const cut = completeUtf8Length(data);
    const whole = data.subarray(0, cut);
    if (!isAscii(whole)) {
      if (!isUtf8(whole)) throw new NeedsProfileError('the object is not plain UTF-8');
      multiByte = true;
    }
    if (whole.indexOf(0) !== -1) throw new NeedsProfileError('the object holds a NUL byte');
    carry = Buffer.from(data.subarray(cut));
    if (whole.length > 0) yield whole;
  }
  // As in profileContent: UTF-8 cut inside its last character (defect 4) is still UTF-8.
  if (carry.length > 0) {
    if (!(multiByte && isTruncatedSequence(carry)) && !(isUtf8(carry) && carry.indexOf(0) === -1)) throw new NeedsProfileError('the object is not plain UTF-8');
    yield carry;
  }
}

/** Counts valid multi-byte UTF-8 sequences and bytes that belong to no valid sequence. */
class Utf8Census {
  invalid = 0;
  multiByte = 0;

  scan(data: Buffer): void {
    if (isAscii(data)) return;
    if (isUtf8(data)) {
      // Valid: every byte from 0xC0 up starts a multi-byte sequence.
      for (let i = 0; i < data.length; i++) if (data[i]! >= 0xc0) this.multiByte++;
      return;
    }
    for (let i = 0; i < data.length; ) {
      // ASCII, most of any export, without a call per byte.
      if (data[i]! < 0x80) {
        i++;
        continue;
      }
      const length = utf8SequenceLength(data, i);
      if (length > 1) this.multiByte++;
      else if (length === 0) this.invalid++;
      i += Math.max(1, length);
    }
  }
}

/** Length of the valid UTF-8 sequence at `at` (1 for ASCII), or 0 when the byte starts none. */
export function utf8SequenceLength(data: Buffer, at: number): number {
  const lead = data[at]!;
  if (lead < 0x80) return 1;
  let need: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) need = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    need = 2;
    if (lead === 0xe0) low = 0xa0;
    if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 3;
    if (lead === 0xf0) low = 0x90;
    if (lead === 0xf4) high = 0x8f;
  } else return 0;
  if (at + need >= data.length) return 0; // cut off by the end of the data
  for (let k = 1; k <= need; k++) {
    const byte = data[at + k]!;
    const min = k === 1 ? low : 0x80;
    const max = k === 1 ? high : 0xbf;
    if (byte < min || byte > max) return 0;
  }
  return need + 1;
}

/** Whether `tail` is the valid beginning of one multi-byte sequence, cut before its end. */
function isTruncatedSequence(tail: Buffer): boolean {
  const lead = tail[0]!;
  const need = lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
  if (need === 0 || tail.length > need) return false;
  for (let k = 1; k < tail.length; k++) if ((tail[k]! & 0xc0) !== 0x80) return false;
  return true;
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

const CP1252_DECODER = new TextDecoder('windows-1252');
/** Each character Windows-1252 decodes to, mapped back to its byte. */
const CP1252_BYTES = new Map<number, number>(
  Array.from({ length: 256 }, (_, byte) => [CP1252_DECODER.decode(Uint8Array.of(byte)).charCodeAt(0), byte] as [number, number]),
);

/** Text decoded from Windows-1252, back to its bytes (for the raw bytes of a quarantined row). */
export function encodeCp1252(text: string): Buffer {
  const bytes = Buffer.allocUnsafe(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = CP1252_BYTES.get(text.charCodeAt(i)) ?? 0x3f;
  return bytes;
}

/** The UTF-8 bytes of each Windows-1252 byte from 0x80 up (two or three). */
const CP1252_UTF8: readonly Buffer[] = Array.from({ length: 128 }, (_, low) => Buffer.from(CP1252_DECODER.decode(Uint8Array.of(0x80 + low)), 'utf8'));

/** Windows-1252 bytes as UTF-8, byte by byte from a table (no string in between). */
function cp1252ToUtf8(chunk: Buffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.length * 3);
  let w = 0;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i]!;
    if (byte < 0x80) out[w++] = byte;
    else {
      const utf8 = CP1252_UTF8[byte - 0x80]!;
      for (let k = 0; k < utf8.length; k++) out[w++] = utf8[k]!;
    }
  }
  return out.subarray(0, w);
}

/** UTF-8 bytes of the content, BOM dropped, Windows-1252 transcoded. */
export async function* utf8Content(content: AsyncIterable<Buffer>, encoding: Encoding): AsyncGenerator<Buffer> {
  // The first bytes are held until there are 3 of them: a BOM may straddle the first chunks.
  let head: Buffer | undefined = Buffer.alloc(0);
  const transcode = encoding === 'windows-1252' ? cp1252ToUtf8 : undefined;
  for await (let chunk of content) {
    if (head !== undefined) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 3) continue;
      chunk = head.subarray(0, 3).equals(BOM) ? head.subarray(3) : head;
      head = undefined;
    }
    if (chunk.length === 0) continue;
    yield transcode ? transcode(chunk) : chunk;
  }
  if (head !== undefined && head.length > 0) yield transcode ? transcode(head) : head;
}

/** The UTF-16 of a byte-order mark at the start of the content, if any. */
export function utf16ByBom(head: Buffer): 'utf-16le' | 'utf-16be' | undefined {
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  return undefined;
}

/** The content's first `bytes` bytes (fewer when it is shorter), and the whole content again. */
export async function peek(content: AsyncIterable<Buffer>, bytes: number): Promise<{ head: Buffer; content: AsyncGenerator<Buffer> }> {
  const iterator = content[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < bytes) {
    const step = await iterator.next();
    if (step.done) {
      done = true;
      break;
    }
    seen.push(step.value);
    length += step.value.length;
  }
  const head = Buffer.concat(seen);
  return {
    head: head.subarray(0, bytes),
    content: (async function* () {
      if (head.length > 0) yield head;
      if (done) return;
      for (;;) {
        const step = await iterator.next();
        if (step.done) return;
        yield step.value;
      }
    })(),
  };
}

/** UTF-16 content (its byte-order mark first) as UTF-8 bytes, the mark dropped. */
export async function* utf16ToUtf8(content: AsyncIterable<Buffer>, encoding: 'utf-16le' | 'utf-16be'): AsyncGenerator<Buffer> {
  const decoder = new TextDecoder(encoding, { ignoreBOM: false });
  for await (const chunk of content) {
    const text = decoder.decode(chunk, { stream: true });
    if (text.length > 0) yield Buffer.from(text, 'utf8');
  }
  const rest = decoder.decode();
  if (rest.length > 0) yield Buffer.from(rest, 'utf8');
}

/** Text decoded from UTF-16, back to its bytes (for the raw bytes of a quarantined row). */
export function encodeUtf16(text: string, encoding: 'utf-16le' | 'utf-16be'): Buffer {
  const bytes = Buffer.from(text, 'utf16le');
  return encoding === 'utf-16be' ? bytes.swap16() : bytes;
}
