// Files on the state dir (the PVC): the day's run summaries and the failed-files log, both
// written atomically (temporary file + rename) so a reader never sees half a file.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scrub } from '../secrets.ts';
import { stateDirLayout } from '../state-dir.ts';

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  // 0600: run summaries name objects and errors; no secret goes in (scrubbed all the same).
  await writeFile(temporary, scrub(JSON.stringify(value, null, 2)) + '\n', { mode: 0o600 });
  await rename(temporary, file);
}

/** Appends the run to the day's summary file (`{ date, runs: [...] }`). */
export async function appendRunSummary(stateDir: string, summary: { started_at: string }): Promise<string> {
  const file = stateDirLayout.summaryFile(stateDir, new Date(summary.started_at));
  let runs: unknown[] = [];
  try {
    const existing = JSON.parse(await readFile(file, 'utf8')) as { runs?: unknown[] };
    if (Array.isArray(existing.runs)) runs = existing.runs;
  } catch {
    // no file yet, or an unreadable one: start the day afresh
  }
  runs.push(summary);
  await writeJsonAtomic(file, { date: summary.started_at.slice(0, 10), runs });
  return file;
}

/** A run's summary as it was appended to the state dir, if that file and run are there. */
export async function readRunSummary(stateDir: string, runId: string, startedAt: Date): Promise<{ run_id: string; status?: string; finished_at?: string } | undefined> {
  try {
    const file = stateDirLayout.summaryFile(stateDir, startedAt);
    const { runs } = JSON.parse(await readFile(file, 'utf8')) as { runs?: Array<{ run_id?: string }> };
    return runs?.find((run) => run.run_id === runId) as { run_id: string } | undefined;
  } catch {
    return undefined;
  }
}
