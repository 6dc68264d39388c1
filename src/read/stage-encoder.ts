// What the parse worker makes of the rows it reads: the staging records of a batch of objects,
// in Postgres's binary COPY format, for the staging tables that load/staging.ts declares.
//
// Binary, because it costs both sides less than text: the runner copies a field's bytes as they
// are (no escaping), Postgres reads a length and the bytes (no parsing of timestamps and numbers
// from text), and a timestamp is eight bytes.
//
// The worker keeps one record per key and table for the whole batch, the latest (objects are
// read oldest first, so a later record of a key replaces an earlier one, as latest-wins would):
// every export repeats most customers and many service requests, and each record not sent is one
// upsert less for Postgres. An object that fails is taken out again (undo()), unless what it
// added was already handed out. Past `holdBytes` the records are handed out early (take()); a
// key may then be staged twice, which the merge's DISTINCT ON settles, so memory stays bounded.
//
// At the batch's end, the records of keys the target tables do not have yet (pipeline/file.ts asks
// them about firstKeys()) can be handed out as records of the target tables themselves: Postgres
// then inserts them as COPY does, in bulk, instead of one upsert each (load/staging.ts,
// DIRECT_TABLES).
import { EXPORT_COLUMNS, type Kind } from '../model/export.ts';
import { DIRECT_TABLES, EXTRAS_COLUMNS, EXTRAS_STAGE, stageOf, stagedColumns } from '../load/staging.ts';
import { TARGET_TABLES, valueIndex } from '../load/target-tables.ts';
import type { Reject } from './export-reader.ts';
import type { RowValues } from './row-shape.ts';

/** Staging records for one staging table in binary COPY format (no header or trailer), with where each came from. */
export interface StagedChunk {
  readonly stage: string;
  readonly bytes: ArrayBuffer;
  /** The data row (ordinal within its object) of each record, in record order. */
  readonly ordinals: Int32Array;
  /** The read attempt (object index) of each record. */
  readonly attempts: Int32Array;
}

const KIND_CODE: Record<Kind, number> = { text: 0, freetext: 0, digits: 0, alnum: 0, number: 1, timestamp: 2 };
const TEXT = 0;
const NUMBER = 1;
const TIMESTAMP = 2;
const TWO_32 = 4294967296;

/**
 * A growing buffer of binary COPY records. A caller reserves room for a whole record first
 * (reserve()), then writes its fields without further checks.
 */
class BinaryWriter {
  buf: Buffer;
  used = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    const larger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + bytes));
    this.buf.copy(larger, 0, 0, this.used);
    this.buf = larger;
  }

  private putInt32(value: number): void {
    const buf = this.buf;
    const w = this.used;
    buf[w] = value >>> 24;
    buf[w + 1] = value >>> 16;
    buf[w + 2] = value >>> 8;
    buf[w + 3] = value;
    this.used = w + 4;
  }

  /** The start of a record: its field count. */
  fields(count: number): void {
    this.buf[this.used] = count >>> 8;
    this.buf[this.used + 1] = count;
    this.used += 2;
  }

  int32(value: number): void {
    this.putInt32(4);
    this.putInt32(value);
  }

  null(): void {
    this.putInt32(-1);
  }

  /** A "char" field. */
  char(code: number): void {
    this.putInt32(1);
    this.buf[this.used++] = code;
  }

  /** A text or bytea field: its bytes as they are. */
  bytes(source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.putInt32(length);
    if (length > 32) {
      this.buf.set(source.subarray(start, end), this.used);
      this.used += length;
    } else {
      const buf = this.buf;
      let w = this.used;
      for (let i = start; i < end; i++) buf[w++] = source[i]!;
      this.used = w;
    }
  }

  /** Room a text of `value` takes at most. */
  static textBytes(value: string): number {
    return 4 + value.length * 3;
  }

  text(value: string): void {
    const at = this.used;
    this.used += 4;
    const length = this.buf.write(value, this.used);
    this.used = at;
    this.putInt32(length);
    this.used += length;
  }

  /** A timestamp: microseconds since 2000-01-01 as an int64 (seconds * 1e6, exact without BigInt). */
  timestamp(seconds: number): void {
    this.putInt32(8);
    // seconds * 15625 stays below 2^53, and * 64 only moves the exponent: every step is exact.
    const micros = seconds * 15625 * 64;
    const high = Math.floor(micros / TWO_32);
    this.putInt32(high);
    this.putInt32(micros - high * TWO_32);
  }

  /** Room numeric() takes at most for a number of `length` characters. */
  static numericBytes(length: number): number {
    return 12 + 2 * (Math.ceil(length / 4) + 1);
  }

  /**
   * A numeric from its decimal text (`[+-]digits[.digits]`, checked by read/typed-bytes.ts):
   * base-10000 digits, weight, sign and display scale, as numeric_recv reads them.
   */
  numeric(source: Buffer, start: number, end: number): void {
    let s = start;
    let sign = 0;
    if (source[s] === 0x2d) {
      sign = 0x4000;
      s++;
    } else if (source[s] === 0x2b) s++;
    let point = s;
    while (point < end && source[point] !== 0x2e) point++;
    let intStart = s;
    while (intStart < point && source[intStart] === 0x30) intStart++;
    const fracStart = point + 1;
    const dscale = Math.max(0, end - fracStart);
    const intDigits = point - intStart;
    const intGroups = Math.ceil(intDigits / 4);
    const fracGroups = Math.ceil(dscale / 4);
    const ndigits = intGroups + fracGroups;
    const buf = this.buf;
    this.putInt32(8 + ndigits * 2);
    let w = this.used;
    const put16 = (value: number) => {
      buf[w] = value >>> 8;
      buf[w + 1] = value;
      w += 2;
    };
    put16(ndigits);
    put16(intGroups > 0 ? intGroups - 1 : -1);
    put16(ndigits === 0 ? 0 : sign);
    put16(dscale);
    // Integer groups, aligned on the decimal point: the first group takes what is left over.
    let at = intStart;
    const firstWidth = intDigits - (intGroups - 1) * 4;
    for (let group = 0; group < intGroups; group++) {
      const width = group === 0 ? firstWidth : 4;
      let digit = 0;
      for (let k = 0; k < width; k++) digit = digit * 10 + (source[at++]! - 48);
      put16(digit);
    }
    at = fracStart;
    for (let group = 0; group < fracGroups; group++) {
      let digit = 0;
      for (let k = 0; k < 4; k++) digit = digit * 10 + (at < end ? source[at++]! - 48 : 0);
      put16(digit);
    }
    this.used = w;
  }
}

/** Growable int32 list. */
class Ints {
  data: Int32Array;
  length = 0;

  constructor(initial = 1024) {
    this.data = new Int32Array(initial);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const larger = new Int32Array(this.data.length * 2);
      larger.set(this.data);
      this.data = larger;
    }
    this.data[this.length++] = value;
  }
}

/** keep(): the record was written over the earlier one of its key. */
const REWRITTEN = -2;

/** Where a record's key starts: after its field count, line number and object index. */
const KEY_START = 2 + 8 + 8;

/** How take() splits a table's records into rows for the target itself and staging records. */
interface DirectSplit {
  /** The target table (its COPY in load/staging.ts: COPY_SQL). */
  stage: string;
  /** Per read attempt, its source_object and source_modified fields, ready to copy. */
  origins: ReadonlyMap<number, Buffer>;
}

/**
 * Claims on new first keys, shared by the parse workers of a run, so that two loads never both
 * copy the same key in (the second COPY would fail on it). Two kinds, by a slot of the key's hash:
 * - for a table that had rows when the run started, a byte counter per slot: a key one load
 *   claimed is not new to another until the first releases it (after its commit; by then the
 *   table answers for it);
 * - for a table that was empty then, a bit per slot, never released: a key is new exactly when no
 *   load of the run had it before, and the table need not be asked at all.
 * Two keys sharing a slot only make the second merge its rows: correct, merely slower (about 2%
 * of the keys of two loads' batches share a counter; the bits are sized by the run's bytes).
 */
export class NewKeyClaims {
  static readonly COUNTERS = 1 << 24;
  readonly buffers: { counters: SharedArrayBuffer; loaded: SharedArrayBuffer };
  private readonly counters: Uint8Array;
  private readonly loaded: Int32Array;

  constructor(buffers: { counters: SharedArrayBuffer; loaded: SharedArrayBuffer }) {
    this.buffers = buffers;
    this.counters = new Uint8Array(buffers.counters);
    this.loaded = new Int32Array(buffers.loaded);
  }

  /** Claims for a run of about `bytes` of exports. */
  static forRun(bytes: number): NewKeyClaims {
    let bits = 1 << 24;
    while (bits < bytes / 16 && bits < 2 ** 28) bits *= 2;
    return new NewKeyClaims({ counters: new SharedArrayBuffer(NewKeyClaims.COUNTERS), loaded: new SharedArrayBuffer(bits / 8) });
  }

  /** Whether the last claim() was the first on its slot (no other load holds it). */
  claimedFirst = false;

  /** Takes the counter of a (mixed) hash; returns its slot (for release()), and sets claimedFirst. */
  claim(mixed: number): number {
    const slot = (mixed >>> 8) & (NewKeyClaims.COUNTERS - 1);
    this.claimedFirst = Atomics.add(this.counters, slot, 1) === 0;
    return slot;
  }

  release(slot: number): void {
    Atomics.sub(this.counters, slot, 1);
  }

  /** Marks a (mixed) hash loaded for the rest of the run; whether it was marked before. */
  loadedBefore(mixed: number): boolean {
    const bit = (mixed >>> 0) % (this.loaded.length * 32);
    const mask = 1 << (bit & 31);
    return (Atomics.or(this.loaded, bit >>> 5, mask) & mask) !== 0;
  }
}

function hashBytes(buf: Buffer, start: number, end: number): number {
  // A key's first 48 bytes decide its hash: long keys (a note's text) differ early; sameKey() compares them whole.
  const stop = Math.min(end, start + 48);
  let hash = 0x811c9dc5 ^ (end - start);
  for (let i = start; i < stop; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
  return hash ^ (hash >>> 15);
}

/**
 * One staging table's records of the batch, and for a keyed table the latest record of each key:
 * found by the bytes of the key as the record holds them (its first fields, each with its length:
 * two records have the same key when those bytes are the same), in an open-addressing table of
 * record indexes, without a string or a Map entry per row.
 */
class TableRecords {
  readonly stage: string;
  readonly writer: BinaryWriter;
  readonly keyed: boolean;
  readonly starts = new Ints();
  readonly ordinals = new Ints();
  readonly attempts = new Ints();
  /** Per record: where its key ends, and the key's hash. */
  private readonly keyEnds = new Ints();
  private readonly hashes = new Ints();
  /** Slots of the key table: a record index, or -1. */
  private slots = new Int32Array(1 << 12).fill(-1);
  private keys = 0;
  /** Records a later record of their key replaced. */
  dropped = new Uint8Array(1024);
  private scratch: Buffer | undefined;

  constructor(stage: string, initialBytes: number, keyed: boolean) {
    this.stage = stage;
    this.writer = new BinaryWriter(initialBytes);
    this.keyed = keyed;
  }

  get count(): number {
    return this.starts.length;
  }

  begin(ordinal: number, attempt: number): void {
    this.starts.push(this.writer.used);
    this.ordinals.push(ordinal);
    this.attempts.push(attempt);
    if (this.dropped.length < this.starts.length) {
      const larger = new Uint8Array(this.dropped.length * 2);
      larger.set(this.dropped);
      this.dropped = larger;
    }
    this.dropped[this.starts.length - 1] = 0;
  }

  /**
   * The record just written, whose key fields end at `keyEnd`, is the latest of its key: returns
   * the record it replaces (now dropped), or -1 for a new key.
   */
  keep(keyEnd: number, firstOfObject: number): number {
    const index = this.count - 1;
    const buf = this.writer.buf;
    const start = this.starts.data[index]!;
    const hash = hashBytes(buf, start + KEY_START, keyEnd);
    this.keyEnds.push(keyEnd);
    this.hashes.push(hash);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const other = this.slots[slot]!;
      if (other === -1) {
        this.slots[slot] = index;
        if (++this.keys * 2 > this.slots.length) this.grow();
        return -1;
      }
      if (this.hashes.data[other] === hash && this.sameKey(other, index)) {
        const otherStart = this.starts.data[other]!;
        const length = this.writer.used - start;
        if (other >= firstOfObject && this.starts.data[other + 1]! - otherStart === length) {
          // A repeat of a key in the same object, as long as its record (a customer on every row
          // of its service requests): written over the earlier one, so the batch holds one.
          buf.copy(buf, otherStart, start, this.writer.used);
          this.ordinals.data[other] = this.ordinals.data[index]!;
          this.pop();
          return REWRITTEN;
        }
        this.slots[slot] = index;
        this.dropped[other] = 1;
        return other;
      }
    }
  }

  /** Takes back the record just added (written over an earlier one instead). */
  private pop(): void {
    const index = this.count - 1;
    this.writer.used = this.starts.data[index]!;
    this.starts.length = index;
    this.ordinals.length = index;
    this.attempts.length = index;
    this.keyEnds.length = index;
    this.hashes.length = index;
  }

  private sameKey(a: number, b: number): boolean {
    const buf = this.writer.buf;
    const aStart = this.starts.data[a]! + KEY_START;
    const bStart = this.starts.data[b]! + KEY_START;
    const length = this.keyEnds.data[a]! - aStart;
    if (this.keyEnds.data[b]! - bStart !== length) return false;
    for (let i = 0; i < length; i++) if (buf[aStart + i] !== buf[bStart + i]) return false;
    return true;
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2).fill(-1);
    this.reindex();
  }

  /** The key table again from the records not dropped (each the only one of its key). */
  private reindex(): void {
    const slots = this.slots.fill(-1);
    const mask = slots.length - 1;
    let keys = 0;
    for (let index = 0; index < this.count; index++) {
      if (this.dropped[index]) continue;
      let slot = this.hashes.data[index]! & mask;
      while (slots[slot] !== -1) slot = (slot + 1) & mask;
      slots[slot] = index;
      keys++;
    }
    this.keys = keys;
  }

  /** Drops every record from `count` on (an undone object's); `replaced` are the records they had replaced. */
  truncate(count: number, replaced: readonly number[] = []): void {
    if (count >= this.count) return;
    this.writer.used = this.starts.data[count]!;
    this.starts.length = count;
    this.ordinals.length = count;
    this.attempts.length = count;
    if (!this.keyed) return;
    this.keyEnds.length = count;
    this.hashes.length = count;
    for (const index of replaced) this.dropped[index] = 0;
    this.reindex();
  }

  clear(): void {
    this.writer.used = 0;
    this.starts.length = 0;
    this.ordinals.length = 0;
    this.attempts.length = 0;
    this.keyEnds.length = 0;
    this.hashes.length = 0;
    if (this.keys > 0) this.slots.fill(-1);
    this.keys = 0;
  }

  // First-key groups of the kept records (firstKeys()): per record its group (-1: NULL), per group
  // one record of it, its hash, and whether the target table has it (or another load claimed it).
  private groupOf = new Int32Array(0);
  private groupRecord = new Int32Array(0);
  private groupHash = new Int32Array(0);
  private groupExisting = new Uint8Array(0);
  private groupSlots = new Int32Array(0);

  /** Where record `index`'s first key starts (after its length), or -1 for NULL; its length is at the four bytes before. */
  private firstKeyStart(index: number): number {
    const buf = this.writer.buf;
    const at = this.starts.data[index]! + KEY_START;
    return buf[at] === 0xff ? -1 : at + 4;
  }

  private firstKeyLength(start: number): number {
    const buf = this.writer.buf;
    return ((buf[start - 4]! << 24) | (buf[start - 3]! << 16) | (buf[start - 2]! << 8) | buf[start - 1]!) >>> 0;
  }

  /**
   * The first keys of the records kept, each once, joined by commas (ids: no comma in them), and
   * claimed in `claims` for this load (`salt` tells the tables apart); a key another load holds a
   * claim on counts as existing. Returns the claimed keys (to ask the target table about) and
   * the claim slots taken (to release).
   */
  firstKeys(claims: NewKeyClaims, salt: number, sticky: boolean): { keys: string; slots: number[] } {
    const count = this.count;
    const buf = this.writer.buf;
    const groupOf = (this.groupOf = new Int32Array(count).fill(-1));
    const groupRecord = new Int32Array(count);
    const groupHash = new Int32Array(count);
    let groups = 0;
    let size = 1 << 12;
    while (size < count * 2) size <<= 1;
    const slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let index = 0; index < count; index++) {
      if (this.dropped[index]) continue;
      const start = this.firstKeyStart(index);
      if (start < 0) continue;
      const length = this.firstKeyLength(start);
      const hash = hashBytes(buf, start, start + length);
      for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
        const group = slots[slot]!;
        if (group === -1) {
          slots[slot] = groups;
          groupOf[index] = groups;
          groupRecord[groups] = index;
          groupHash[groups] = hash;
          groups++;
          break;
        }
        if (groupHash[group] !== hash) continue;
        const other = this.firstKeyStart(groupRecord[group]!);
        if (this.firstKeyLength(other) !== length) continue;
        let same = true;
        for (let i = 0; i < length; i++) {
          if (buf[start + i] !== buf[other + i]) {
            same = false;
            break;
          }
        }
        if (same) {
          groupOf[index] = group;
          break;
        }
      }
    }
    this.groupRecord = groupRecord.subarray(0, groups);
    this.groupHash = groupHash.subarray(0, groups);
    this.groupSlots = slots;
    this.groupExisting = new Uint8Array(groups);
    const claimed: number[] = [];
    const keys: string[] = [];
    for (let group = 0; group < groups; group++) {
      // Salted by the table (a task number is a key of tasks and the first key of parts), and mixed
      // otherwise than the key tables' slots: keys that share a slot there need not here.
      const mixed = Math.imul(groupHash[group]! ^ salt, 0x9e3779b1);
      if (sticky) {
        // The table was empty when the run started: a key is new unless a load of this run has it.
        if (claims.loadedBefore(mixed)) this.groupExisting[group] = 1;
        continue;
      }
      claimed.push(claims.claim(mixed));
      if (!claims.claimedFirst) {
        this.groupExisting[group] = 1;
        continue;
      }
      const start = this.firstKeyStart(groupRecord[group]!);
      keys.push(buf.toString('latin1', start, start + this.firstKeyLength(start)));
    }
    return { keys: keys.join(','), slots: claimed };
  }

  /** Marks the first keys (joined by commas) that the target table has: their records are merged. */
  markExisting(keys: string): void {
    if (keys === '') return;
    const buf = this.writer.buf;
    const mask = this.groupSlots.length - 1;
    for (const key of keys.split(',')) {
      const bytes = Buffer.from(key, 'latin1');
      const hash = hashBytes(bytes, 0, bytes.length);
      for (let slot = hash & mask; this.groupSlots[slot] !== -1; slot = (slot + 1) & mask) {
        const group = this.groupSlots[slot]!;
        const start = this.firstKeyStart(this.groupRecord[group]!);
        if (this.groupHash[group] === hash && bytes.compare(buf, start, start + this.firstKeyLength(start)) === 0) {
          this.groupExisting[group] = 1;
          break;
        }
      }
    }
  }

  /**
   * The records kept, in chunks of about `chunkBytes`. With `direct` (after firstKeys() and
   * markExisting()), the records of new first keys come first, as records of the target table
   * itself (`direct.stage`: its source columns in place of line and object index), the others
   * after them as staging records.
   */
  *take(chunkBytes: number, direct?: DirectSplit): Generator<StagedChunk> {
    if (direct) {
      const isNew = (index: number) => {
        const group = this.groupOf[index]!;
        return group !== -1 && this.groupExisting[group] === 0;
      };
      yield* this.takeWhere(chunkBytes, isNew, direct);
      yield* this.takeWhere(chunkBytes, (index) => !isNew(index));
    } else yield* this.takeWhere(chunkBytes, () => true);
  }

  private *takeWhere(chunkBytes: number, selected: (index: number) => boolean, direct?: DirectSplit): Generator<StagedChunk> {
    const count = this.count;
    const held = this.writer.buf;
    const end = this.writer.used;
    let chunk = (this.scratch ??= Buffer.allocUnsafe(chunkBytes * 2));
    let used = 0;
    let ordinals = new Ints(256);
    let attempts = new Ints(256);
    const stage = direct ? direct.stage : this.stage;
    for (let index = 0; index < count; index++) {
      if (this.dropped[index] || !selected(index)) continue;
      const start = this.starts.data[index]!;
      const stop = index + 1 < count ? this.starts.data[index + 1]! : end;
      const attempt = this.attempts.data[index]!;
      const origin = direct?.origins.get(attempt);
      // A target's record drops the object index (8 bytes) for its origin fields.
      const bytes = stop - start + (origin ? origin.length - 8 : 0);
      if (used + bytes > chunk.length) {
        const larger = Buffer.allocUnsafe(Math.max(chunk.length * 2, used + bytes));
        chunk.copy(larger, 0, 0, used);
        chunk = this.scratch = larger;
      }
      if (origin) {
        // The target's record: one field more (source_line, source_object, source_modified in
        // place of line_number and object_index), then the columns as staged.
        chunk.writeInt16BE(held.readInt16BE(start) + 1, used);
        held.copy(chunk, used + 2, start + 2, start + 10);
        origin.copy(chunk, used + 10);
        held.copy(chunk, used + 10 + origin.length, start + KEY_START, stop);
        used += bytes;
      } else {
        held.copy(chunk, used, start, stop);
        used += stop - start;
      }
      ordinals.push(this.ordinals.data[index]!);
      attempts.push(attempt);
      if (used >= chunkBytes) {
        yield this.chunk(stage, chunk, used, ordinals, attempts);
        used = 0;
        ordinals = new Ints(256);
        attempts = new Ints(256);
      }
    }
    if (used > 0) yield this.chunk(stage, chunk, used, ordinals, attempts);
  }

  /** A chunk as a new ArrayBuffer of its own (transferred to the main thread). */
  private chunk(stage: string, chunk: Buffer, used: number, ordinals: Ints, attempts: Ints): StagedChunk {
    const bytes = new ArrayBuffer(used);
    new Uint8Array(bytes).set(chunk.subarray(0, used));
    return { stage, bytes, ordinals: ordinals.data.slice(0, ordinals.length), attempts: attempts.data.slice(0, attempts.length) };
  }
}

/** How one target table's staging record is made from a row. */
interface TablePlan {
  readonly name: string;
  /** New keys of this table may be copied into it directly (DIRECT_TABLES). */
  readonly direct: boolean;
  readonly records: TableRecords;
  /** Value positions of the staged columns (stagedColumns order: the key first), and their kinds. */
  readonly positions: readonly number[];
  readonly kinds: readonly number[];
  /** How many of the staged columns are the key. */
  readonly keyColumns: number;
  /** Value positions that must be set for the row to yield a record of the table. */
  readonly required: readonly number[];
}

/**
 * The staging records of a batch of objects while the worker reads them. Rows go to the five
 * tables, one record per key; quarantined rows and value issues to etl_stage.
 */
export class BatchStage {
  readonly chunkBytes: number;
  private readonly extras: TableRecords;
  private readonly tables: TablePlan[];
  // The object being read: where its records start, and the records of earlier objects it replaced.
  private marks: number[] = [];
  private extrasMark = 0;
  private replaced: number[][] = [];
  /** Records were handed out since the object started: it cannot be taken out again. */
  private handedOut = false;
  /** Records were handed out before the end of the batch: a key may be staged twice. */
  private handedOutInBatch = false;
  private attempt = 0;
  /** Per read attempt: its source_object and source_modified as binary COPY fields. */
  private readonly origins = new Map<number, Buffer>();
  /** The claim slots firstKeys() took, and where. */
  private claimed: number[] = [];
  private claims: NewKeyClaims | undefined;

  constructor(chunkBytes = 256 * 1024) {
    this.chunkBytes = chunkBytes;
    this.extras = new TableRecords(EXTRAS_STAGE, chunkBytes, false);
    this.tables = TARGET_TABLES.map((table) => {
      const positions = stagedColumns(table).map(valueIndex);
      return {
        name: table.name,
        direct: DIRECT_TABLES.has(table.name),
        records: new TableRecords(stageOf(table), chunkBytes * 4, true),
        positions,
        kinds: positions.map((position) => KIND_CODE[EXPORT_COLUMNS[position]!.kind]),
        keyColumns: table.key.length,
        required: table.requires.map(valueIndex),
      };
    });
    this.replaced = this.tables.map(() => []);
  }

  /** The bytes of records held. */
  get heldBytes(): number {
    let bytes = this.extras.writer.used;
    for (const table of this.tables) bytes += table.records.writer.used;
    return bytes;
  }

  /** Records were handed out before the batch's end (it was larger than the worker holds): a key may be staged twice. */
  get handedOutEarly(): boolean {
    return this.handedOutInBatch;
  }

  /** An object's read attempt starts: its records carry `attempt`; `key` and `modifiedMs` are what its rows in a target table record. */
  startObject(attempt: number, key = '', modifiedMs = 0): void {
    this.attempt = attempt;
    this.origins.set(attempt, originFields(key, modifiedMs));
    this.marks = this.tables.map((table) => table.records.count);
    this.extrasMark = this.extras.count;
    this.replaced = this.tables.map(() => []);
    this.handedOut = false;
  }

  /**
   * Takes the object out again (it failed): its rows, and with `rejectsToo` its quarantined rows
   * and value issues; false when some were handed out already.
   */
  undo(rejectsToo: boolean): boolean {
    if (this.handedOut) return false;
    if (rejectsToo) this.extras.truncate(this.extrasMark);
    this.tables.forEach((table, index) => table.records.truncate(this.marks[index]!, this.replaced[index]));
    this.replaced = this.tables.map(() => []);
    return true;
  }

  /** A loaded row of the object. */
  addRow(ordinal: number, line: number, values: RowValues): void {
    const { present } = values;
    const tables = this.tables;
    for (let t = 0; t < tables.length; t++) {
      const table = tables[t]!;
      let yields = true;
      for (const position of table.required) if (!present[position]) yields = false;
      if (!yields) continue;
      const { records } = table;
      records.begin(ordinal, this.attempt);
      const keyEnd = this.write(records.writer, line, values, table);
      const replaced = records.keep(keyEnd, this.marks[t]!);
      if (replaced >= 0 && replaced < this.marks[t]!) this.replaced[t]!.push(replaced);
    }
    if (values.issues.length > 0) {
      for (const issue of values.issues) {
        const writer = this.beginExtra(ordinal, 'i', line, BinaryWriter.textBytes(issue.column) + BinaryWriter.textBytes(issue.raw));
        writer.text(issue.column);
        writer.text(issue.raw);
        for (let i = 0; i < 4; i++) writer.null();
      }
    }
  }

  /** A quarantined row of the object. */
  addReject(ordinal: number, reject: Reject): void {
    const writer = this.beginExtra(
      ordinal,
      'q',
      reject.line,
      4 + reject.rawBytes.length + BinaryWriter.textBytes(reject.rawText) + BinaryWriter.textBytes(reject.reason) + BinaryWriter.textBytes(reject.detail),
    );
    writer.null();
    writer.null();
    writer.bytes(reject.rawBytes, 0, reject.rawBytes.length);
    writer.text(reject.rawText);
    writer.text(reject.reason);
    writer.text(reject.detail);
  }

  /**
   * The first keys of the records held, per table that can take rows of new keys directly
   * (DIRECT_TABLES), claimed in `claims` for this load (joined by commas): what pipeline/file.ts
   * asks the target tables about. The claims are this batch's until release().
   */
  firstKeys(claims: NewKeyClaims, sticky: ReadonlySet<string>): Record<string, string> {
    const keys: Record<string, string> = {};
    for (const [index, table] of this.tables.entries()) {
      if (!table.direct) continue;
      const found = table.records.firstKeys(claims, Math.imul(index + 1, 0x27d4eb2f), sticky.has(table.name));
      if (!sticky.has(table.name)) keys[table.name] = found.keys;
      for (const slot of found.slots) this.claimed.push(slot);
    }
    this.claims = claims;
    return keys;
  }

  /** Gives up the counter claims of firstKeys() (the batch committed or rolled back), and the records kept for retake(). */
  release(): void {
    const claims = this.claims;
    if (claims) for (const slot of this.claimed) claims.release(slot);
    this.claimed = [];
    this.claims = undefined;
    if (this.keptForRetake) this.clearRecords();
  }

  /** take(existing) kept the records it handed out, for retake(). */
  private keptForRetake = false;

  /**
   * Everything held, in chunks of about chunkBytes, etl_stage's first; none is held after, but
   * for a direct take (kept until release(), for retake()). With
   * `existing` (after firstKeys(): per table, the first keys the target table has, joined by
   * commas), the records of the other keys of the DIRECT_TABLES come as records of the target
   * tables themselves.
   */
  *take(existing?: Readonly<Record<string, string>>): Generator<StagedChunk> {
    if (!existing) {
      this.handedOut = true;
      this.handedOutInBatch = true;
    }
    yield* this.chunks(existing);
    // The records of a direct take stay until release(): when another load inserted one of the
    // keys taken for new, the batch goes again from them (retake()) instead of being read again.
    if (existing) this.keptForRetake = true;
    else this.clearRecords();
    this.marks = this.tables.map(() => 0);
    this.extrasMark = 0;
    this.replaced = this.tables.map(() => []);
  }

  /**
   * What the last take(existing) handed out, again (the batch's direct COPY was rolled back: another
   * load inserted a key it took for new): with `existing`, the first keys the target tables have
   * now, split as take(existing) does, and kept for another retake(); without, every record as a
   * staging record, to be merged.
   */
  *retake(existing?: Readonly<Record<string, string>>): Generator<StagedChunk> {
    if (!this.keptForRetake) throw new Error('retake() without a take(existing) before it');
    yield* this.chunks(existing);
    if (!existing) this.clearRecords();
  }

  /**
   * The records held, etl_stage's first; with `existing`, those of the DIRECT_TABLES split into
   * records of the target tables (new first keys) and staging records. Keys only ever become
   * existing (others' commits), so marking those given is enough, on a retake too.
   */
  private *chunks(existing?: Readonly<Record<string, string>>): Generator<StagedChunk> {
    yield* this.extras.take(this.chunkBytes);
    for (const table of this.tables) {
      let split: DirectSplit | undefined;
      if (existing && table.direct) {
        table.records.markExisting(existing[table.name] ?? '');
        split = { stage: table.name, origins: this.origins };
      }
      yield* table.records.take(this.chunkBytes, split);
    }
  }

  private clearRecords(): void {
    this.extras.clear();
    for (const table of this.tables) table.records.clear();
    this.keptForRetake = false;
  }

  /** Drops everything held (a new batch). */
  clear(): void {
    this.clearRecords();
    this.replaced = this.tables.map(() => []);
    this.handedOut = false;
    this.handedOutInBatch = false;
    this.origins.clear();
  }

  /** Starts an etl_stage record with room for `bytes` more. */
  private beginExtra(ordinal: number, kind: 'i' | 'q', line: number, bytes: number): BinaryWriter {
    const { extras } = this;
    extras.begin(ordinal, this.attempt);
    const writer = extras.writer;
    writer.reserve(2 + 5 + 16 + 16 + bytes);
    writer.fields(EXTRAS_COLUMNS.length);
    writer.char(kind.charCodeAt(0));
    writer.int32(this.attempt);
    writer.int32(line);
    return writer;
  }

  /** Writes a row's record for `table`; returns where its key fields end. */
  private write(writer: BinaryWriter, line: number, values: RowValues, table: TablePlan): number {
    const { positions, kinds } = table;
    const { present, buf, start, end, seconds } = values;
    // Room for the whole record first: the writes below do not check.
    let bytes = KEY_START;
    for (let i = 0; i < positions.length; i++) {
      const position = positions[i]!;
      if (!present[position]) bytes += 4;
      else if (kinds[i] === TIMESTAMP) bytes += 12;
      else if (kinds[i] === NUMBER) bytes += BinaryWriter.numericBytes(end[position]! - start[position]!);
      else bytes += 4 + end[position]! - start[position]!;
    }
    writer.reserve(bytes);
    writer.fields(2 + positions.length);
    writer.int32(line);
    writer.int32(this.attempt);
    // The fields written here with the writer's buffer in locals: a call per field cost a third of the encoding.
    const out = writer.buf;
    let w = writer.used;
    let keyEnd = 0;
    for (let i = 0; i < positions.length; i++) {
      const position = positions[i]!;
      const kind = kinds[i];
      if (!present[position]) {
        out[w] = 0xff;
        out[w + 1] = 0xff;
        out[w + 2] = 0xff;
        out[w + 3] = 0xff;
        w += 4;
      } else if (kind === TEXT) {
        const source = buf[position]!;
        const from = start[position]!;
        const to = end[position]!;
        const length = to - from;
        out[w] = length >>> 24;
        out[w + 1] = length >>> 16;
        out[w + 2] = length >>> 8;
        out[w + 3] = length;
        w += 4;
        if (length > 32) w += source.copy(out, w, from, to);
        else for (let k = from; k < to; k++) out[w++] = source[k]!;
      } else {
        writer.used = w;
        if (kind === TIMESTAMP) writer.timestamp(seconds[position]!);
        else writer.numeric(buf[position]!, start[position]!, end[position]!);
        w = writer.used;
      }
      if (i === table.keyColumns - 1) keyEnd = w;
    }
    writer.used = w;
    return keyEnd;
  }
}

/** Seconds from 1970-01-01 to 2000-01-01, Postgres's epoch for timestamps. */
const PG_EPOCH_MS = 946_684_800_000;

/** source_object (the key as text) and source_modified (a timestamptz: microseconds since 2000) as binary COPY fields. */
function originFields(key: string, modifiedMs: number): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const fields = Buffer.allocUnsafe(4 + keyBytes.length + 12);
  fields.writeInt32BE(keyBytes.length, 0);
  keyBytes.copy(fields, 4);
  const micros = (modifiedMs - PG_EPOCH_MS) * 1000; // below 2^53 for any date a file system gives
  const high = Math.floor(micros / TWO_32);
  fields.writeInt32BE(8, 4 + keyBytes.length);
  fields.writeInt32BE(high, 8 + keyBytes.length);
  fields.writeUInt32BE(micros - high * TWO_32, 12 + keyBytes.length);
  return fields;
}
