// Runs the real CLI (`node src/main.ts ...`) as a child process, as an operator would.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout lines that parse as JSON (the pino log lines). */
  logs: Array<Record<string, unknown>>;
}

/** Environment for the CLI: only what the test passes, plus PATH/HOME; no stray ETL_ or OTEL_ settings. */
export function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LOG_FORMAT: 'json', ...env };
}

export function startCli(args: string[], env: Record<string, string | undefined>): { child: ChildProcess; done: Promise<CliResult>; lines: AsyncIterable<Record<string, unknown>> } {
  const child = spawn(process.execPath, [MAIN, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: Array<(line: Record<string, unknown> | null) => void> = [];
  const queued: Array<Record<string, unknown> | null> = [];
  let partial = '';
  const emit = (item: Record<string, unknown> | null) => {
    const next = waiting.shift();
    if (next) next(item);
    else queued.push(item);
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const parsed = parseJson(line);
      if (parsed) emit(parsed);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      emit(null);
      resolve({ code, signal, stdout, stderr, logs: stdout.split('\n').map(parseJson).filter((line) => line !== undefined) });
    });
  });
  const lines: AsyncIterable<Record<string, unknown>> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const item = queued.length ? queued.shift()! : await new Promise<Record<string, unknown> | null>((resolve) => waiting.push(resolve));
        if (item === null) return;
        yield item;
      }
    },
  };
  return { child, done, lines };
}

export function runCli(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  return startCli(args, env).done;
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
