// A folder of exports on disk. The version of a file is its size and modification time (in ms):
// cheap to list, and any rewrite of the file changes it (the README says so). The file itself is
// the local copy the parse worker reads.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SourceError, type LocalCopy, type Source, type SourceObject } from './source.ts';

export class LocalSource implements Source {
  readonly description: string;
  private readonly root: string;

  constructor(dir: string) {
    this.root = path.resolve(dir);
    this.description = `folder ${this.root}`;
  }

  async check(): Promise<void> {
    let info;
    try {
      info = await stat(this.root);
    } catch {
      throw new SourceError(`The source folder ${this.root} does not exist: fix source (ETL_SOURCE).`);
    }
    if (!info.isDirectory()) throw new SourceError(`The source ${this.root} is not a folder: fix source (ETL_SOURCE).`);
  }

  async list(): Promise<SourceObject[]> {
    await this.check();
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    const objects: SourceObject[] = [];
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const full = path.join(entry.parentPath, entry.name);
      const info = await stat(full);
      objects.push({
        key: path.relative(this.root, full).split(path.sep).join('/'),
        version: `${info.size.toString(16)}-${Math.trunc(info.mtimeMs).toString(16)}`,
        size: info.size,
        lastModified: info.mtime,
      });
    }
    return objects;
  }

  async localCopy(object: SourceObject): Promise<LocalCopy> {
    const full = path.join(this.root, ...object.key.split('/'));
    const info = await stat(full).catch(() => undefined);
    if (!info) throw new SourceError(`${object.key} disappeared from ${this.root} while the run was going.`);
    return { path: full, release: async () => {} };
  }
}
