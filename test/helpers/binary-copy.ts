// Postgres's binary COPY format read back, for tests of what the parse worker stages
// (src/read/stage-encoder.ts): the fields of each record, NULL as null.
export function decodeRecords(bytes: Buffer): Array<Array<Buffer | null>> {
  const records: Array<Array<Buffer | null>> = [];
  let at = 0;
  while (at < bytes.length) {
    const count = bytes.readInt16BE(at);
    at += 2;
    if (count === -1) break; // the trailer
    const fields: Array<Buffer | null> = [];
    for (let field = 0; field < count; field++) {
      const length = bytes.readInt32BE(at);
      at += 4;
      if (length === -1) fields.push(null);
      else {
        fields.push(bytes.subarray(at, at + length));
        at += length;
      }
    }
    records.push(fields);
  }
  if (at !== bytes.length) throw new Error(`decodeRecords: ${bytes.length - at} bytes after the last record`);
  return records;
}
