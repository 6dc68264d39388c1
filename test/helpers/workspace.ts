// A test's own load: a fresh database, a folder of exports (generated, or written by the test)
// and a state dir, created before the suite's tests and removed after them.
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateExports, writeExports, type Expected, type GenerateOptions } from '../../src/sample/generator.ts';
import { freshDatabase, type FreshDatabase } from './services.ts';

export interface Workspace {
  db: FreshDatabase;
  /** The source folder. */
  dir: string;
  stateDir: string;
  /** What a correct load of the generated exports gives (when the suite generates them). */
  expected: Expected;
}

/** Registers before/after hooks in the current suite; the fields are set once `before` has run. */
export function useWorkspace(prefix: string, generate?: GenerateOptions): Workspace {
  const workspace = {} as Workspace;
  before(async () => {
    workspace.db = await freshDatabase({ prefix });
    workspace.dir = mkdtempSync(path.join(tmpdir(), `etl-${prefix}-`));
    workspace.stateDir = mkdtempSync(path.join(tmpdir(), 'etl-state-'));
    if (generate) {
      const generated = generateExports(generate);
      workspace.expected = generated.expected;
      await writeExports(workspace.dir, generated.objects);
    }
  });
  after(async () => {
    await workspace.db?.drop();
    for (const dir of [workspace.dir, workspace.stateDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return workspace;
}
