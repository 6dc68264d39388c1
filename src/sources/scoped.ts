// A source inside the ledger's source (a narrower S3 prefix, a sub-folder): its objects are keyed
// as the ledger keys them, relative to the ledger's root, so narrowing the source never re-keys
// objects or makes them look new (load/source-root.ts decides the prefix).
import type { LocalCopy, Source, SourceObject } from './source.ts';

export function scopedSource(source: Source, prefix: string): Source {
  if (prefix === '') return source;
  return {
    description: source.description,
    check: () => source.check(),
    async list(signal) {
      return (await source.list(signal)).map((object) => ({ ...object, key: prefix + object.key }));
    },
    localCopy(object: SourceObject, signal?: AbortSignal): Promise<LocalCopy> {
      return source.localCopy({ ...object, key: object.key.slice(prefix.length) }, signal);
    },
    ...(source.close && { close: () => source.close!() }),
  };
}
