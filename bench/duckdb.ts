// The DuckDB script (bench/duckdb/load.py) as the bench's rival, when its venv is set up.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./duckdb/load.py', import.meta.url));
export const DUCKDB_SETUP = 'run `bash bench/duckdb/setup.sh` (pip installs the pinned duckdb and its postgres extension into .services/duckdb)';

/** The venv's python when DuckDB and its postgres extension import there, else undefined. */
export function duckdbAvailable(): string | undefined {
  const python = process.env.BENCH_DUCKDB_PYTHON || `${ROOT}.services/duckdb/bin/python`;
  if (!existsSync(python)) return undefined;
  const probe = spawnSync(python, ['-c', 'import duckdb'], { encoding: 'utf8' });
  return probe.status === 0 ? python : undefined;
}

/** Runs the script into `url`; resolves with its JSON report, rejects with its error line. */
export async function runDuckdb(python: string, exportsDir: string, url: string): Promise<Record<string, unknown>> {
  const child = spawn(python, [SCRIPT, '--exports', exportsDir, '--database-url', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`the DuckDB script exited ${code}: ${stderr.trim().slice(-2000)}`);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}
