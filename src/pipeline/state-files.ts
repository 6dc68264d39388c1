// Files on the state dir (the PVC): the day's run summaries and the failed-files log, both
// written atomically (temporary file + rename) so a reader never sees half a file.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(value, null, 2) + '\n');
  await rename(temporary, file);
}

export function summaryFileName(date: Date): string {
  const day = date.toISOString().slice(0, 10).replace(/-/g, '');
  return `pipeline_summary_${day}.json`;
}

/** Appends the run to the day's summary file (`{ date, runs: [...] }`). */
export async function appendRunSummary(stateDir: string, summary: { started_at: string }): Promise<string> {
  const file = path.join(stateDir, summaryFileName(new Date(summary.started_at)));
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
