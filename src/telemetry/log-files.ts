// Log files in the state dir (the PVC), as the old product wrote them, when `log_files` is on:
//   etl_pipeline.log  every line at the configured level; rotated at 50 MB
//   etl_errors.log    error and fatal lines only; rotated the same way
// Rotation renames etl_pipeline.log to etl_pipeline.log.1 (.1 to .2, ...), keeping `keep` old
// files, the scheme of Python's RotatingFileHandler. Writes are synchronous appends, so nothing is
// lost when the process exits right after a line. A file that cannot be written is reported once
// on stderr and dropped; logging to stdout goes on and the run is not affected.
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type pino from 'pino';
import { ERRORS_LOG, PIPELINE_LOG } from '../state-dir.ts';

export { ERRORS_LOG, PIPELINE_LOG };
export const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;
export const DEFAULT_KEEP = 5;

export interface LogFilesOptions {
  /** The folder (state_dir). Created when missing. */
  dir: string;
  /** Rotate a file before it would grow past this many bytes (50 MB). */
  maxBytes?: number;
  /** How many rotated files to keep beside each log (5). */
  keep?: number;
}

/** A pino destination that appends lines to a file and rotates it by size. */
export class RotatingFile {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private fd: number | undefined;
  private size = 0;
  private broken = false;

  constructor(file: string, options: { maxBytes?: number; keep?: number } = {}) {
    this.path = file;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.keep = Math.max(0, options.keep ?? DEFAULT_KEEP);
    this.open();
  }

  write(line: string): void {
    if (this.broken || this.fd === undefined) return;
    const bytes = Buffer.byteLength(line);
    try {
      if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
      if (this.fd === undefined) return;
      writeSync(this.fd, line);
      this.size += bytes;
    } catch (error) {
      this.fail(error);
    }
  }

  /** Closes the file (pino calls it on flushSync/end paths; safe to call twice). */
  end(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    try {
      this.fd = openSync(this.path, 'a', 0o600); // log lines name objects and errors: the owner's only
      this.size = fstatSync(this.fd).size;
    } catch (error) {
      this.fail(error);
    }
  }

  private rotate(): void {
    this.end();
    if (this.keep === 0) {
      rmSync(this.path, { force: true });
    } else {
      rmSync(`${this.path}.${this.keep}`, { force: true });
      for (let index = this.keep - 1; index >= 1; index--) {
        try {
          renameSync(`${this.path}.${index}`, `${this.path}.${index + 1}`);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
      renameSync(this.path, `${this.path}.1`);
    }
    this.open();
  }

  private fail(error: unknown): void {
    this.broken = true;
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already unusable
      }
      this.fd = undefined;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      JSON.stringify({ level: 'warn', time: new Date().toISOString(), msg: `cannot write the log file ${this.path} (${message}); logging to stdout only` }) + '\n',
    );
  }
}

/** The two pino streams for the log files in `dir`; none when the folder cannot be created. */
export function logFileStreams(options: LogFilesOptions, level: pino.Level): pino.StreamEntry[] {
  try {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      JSON.stringify({ level: 'warn', time: new Date().toISOString(), msg: `cannot create ${options.dir} for the log files (${message}); logging to stdout only` }) + '\n',
    );
    return [];
  }
  const rotation = { maxBytes: options.maxBytes, keep: options.keep };
  return [
    { level, stream: new RotatingFile(path.join(options.dir, PIPELINE_LOG), rotation) },
    { level: 'error', stream: new RotatingFile(path.join(options.dir, ERRORS_LOG), rotation) },
  ];
}
