// `etl run` for a person at a terminal: one live progress bar on stderr (cli-progress), a short line
// above it for each object that failed or quarantined rows and for each warning or error, and a
// summary table at the end. Used when stderr is a terminal and the log format is left to `auto`;
// `--quiet`, LOG_FORMAT=json (and any run without a terminal: Kubernetes) keep the JSON lines.
import { MultiBar, type SingleBar } from 'cli-progress';
import type { FileResult } from '../pipeline/file.ts';
import type { RunObserver, RunSummary } from '../pipeline/run.ts';
import type { SourceObject } from '../sources/source.ts';

const BAR_CELLS = 20;
const number = new Intl.NumberFormat('en-US');

export class RunView implements RunObserver {
  private readonly stream: NodeJS.WriteStream;
  private readonly bars: MultiBar;
  private bar: SingleBar | undefined;
  private closed = false;
  private readonly startedAt = Date.now();
  private total = { objects: 0, bytes: 0 };
  private done = { objects: 0, bytes: 0, rowsFinished: 0, failed: 0 };
  /** Rows read so far by the objects in flight, by key. */
  private readonly inFlight = new Map<string, number>();

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.stream = stream;
    this.bars = new MultiBar({
      stream,
      format: () => this.line(),
      hideCursor: true,
      clearOnComplete: true,
      stopOnComplete: false,
      fps: 4,
      // cli-progress skips redraws on a stream that is not a terminal; this view is only used on one.
      noTTYOutput: false,
      emptyOnZero: true,
    });
  }

  planned(plan: { objects: number; bytes: number; waiting: number; skipped: number; unchanged: number }): void {
    this.total = { objects: plan.objects, bytes: plan.bytes };
    const waiting = plan.waiting > 0 ? `, ${plan.waiting} failed earlier and waiting` : '';
    this.log(`Loading ${plan.objects} of ${plan.objects + plan.unchanged + plan.waiting} objects (${plan.unchanged} unchanged${waiting}; ${plan.skipped} not data).`);
    this.bar = this.bars.create(Math.max(1, plan.bytes), 0);
  }

  started(object: SourceObject): void {
    this.inFlight.set(object.key, 0);
    this.redraw();
  }

  rows(object: SourceObject, rows: number): void {
    this.inFlight.set(object.key, rows);
  }

  finished(object: SourceObject, result: FileResult): void {
    this.inFlight.delete(object.key);
    this.done.objects++;
    this.done.bytes += object.size;
    this.done.rowsFinished += result.rowsRead;
    if (result.status === 'failed') {
      this.done.failed++;
      this.log(`✗ ${object.key}: ${result.errorClass}: ${result.errorMessage ?? ''}`);
    } else if (result.rowsQuarantined > 0) {
      this.log(`! ${object.key}: ${number.format(result.rowsQuarantined)} of ${number.format(result.rowsRead)} rows quarantined`);
    }
    this.redraw();
  }

  /** A line above the bar (a warning, an error, an object's outcome), cut to the terminal's width. */
  log(text: string): void {
    // cli-progress holds logged lines until its next redraw: with no bar running, write at once.
    if (this.bar && !this.closed) this.bars.log(`${this.fit(text)}\n`);
    else this.stream.write(`${this.fit(text)}\n`);
  }

  /** Takes the bar away (the summary follows on stdout). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bar?.update(Math.max(1, this.total.bytes));
    // stop() drops the lines logged since the last redraw (a batch's objects finish together, at
    // the end): one redraw writes them first.
    this.bars.update();
    this.bars.stop();
  }

  private redraw(): void {
    this.bar?.update(Math.min(this.done.bytes, Math.max(1, this.total.bytes)));
  }

  /** objects done/total, rows, rows/s, ETA, the objects in flight, failures so far. */
  private line(): string {
    const seconds = (Date.now() - this.startedAt) / 1000;
    const rows = this.done.rowsFinished + [...this.inFlight.values()].reduce((a, b) => a + b, 0);
    const share = this.total.bytes > 0 ? this.done.bytes / this.total.bytes : 0;
    const filled = Math.round(share * BAR_CELLS);
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_CELLS - filled);
    const eta = share > 0 && share < 1 ? clock((seconds / share) * (1 - share)) : '--:--';
    const failed = this.done.failed > 0 ? ` · ${this.done.failed} failed` : '';
    const now = this.inFlight.size > 0 ? ` · now ${[...this.inFlight.keys()].map((key) => key.split('/').pop()).join(', ')}` : '';
    return this.fit(
      `${bar} ${this.done.objects}/${this.total.objects} objects · ${number.format(rows)} rows · ${number.format(Math.round(rows / Math.max(seconds, 0.001)))} rows/s · ETA ${eta}${failed}${now}`,
    );
  }

  private fit(text: string): string {
    const width = Math.max(20, (this.stream.columns ?? 100) - 1);
    const oneLine = text.replace(/\s*\n\s*/g, ' ');
    return oneLine.length <= width ? oneLine : `${oneLine.slice(0, width - 1)}…`;
  }
}

/** The run's closing table, for stdout, each line cut to `width`. */
export function summaryTable(summary: RunSummary, exitCode: number, width = (process.stdout.columns ?? 100) - 1): string {
  const { files, rows } = summary;
  const left: Array<[string, number]> = [
    ['loaded', files.loaded],
    ['failed', files.failed],
    ['waiting', files.waiting],
    ['unchanged', files.unchanged],
    ['not data', files.skipped],
    ['gone', files.gone],
  ];
  const right: Array<[string, number]> = [
    ['read', rows.read],
    ['loaded', rows.loaded],
    ['quarantined', rows.quarantined],
    ['repaired', rows.repaired],
    ['values unfit', rows.values_recorded],
    ['per second', summary.rows_per_second],
  ];
  const cell = ([label, value]: [string, number], width: number) => `${label.padEnd(12)}${number.format(value).padStart(width)}`;
  const lines = [
    '',
    `Run ${summary.status} in ${summary.duration_seconds.toFixed(1)} s (exit ${exitCode}).`,
    `  ${'objects'.padEnd(22)}    rows`,
    ...left.map((entry, i) => `  ${cell(entry, 10)}    ${cell(right[i]!, 12)}`),
  ];
  for (const failed of summary.failed_files) lines.push(`Failed: ${failed.key}  ${failed.error_class}: ${failed.message}`);
  if (summary.failed_files.length > 0) lines.push('  `etl status` and failed_files_log.json give the whole reasons.');
  if (files.failed_in_ledger > files.failed) lines.push(`${files.failed_in_ledger} objects in all are failed in the ledger: \`etl status\` lists them.`);
  if (rows.quarantined > 0) lines.push('Quarantined rows: `etl rejects` lists them.');
  if (summary.error) lines.push(`Stopped: ${summary.error}`);
  lines.push(`Trace ${summary.trace_id ?? '(none)'}`);
  if (summary.summary_file) lines.push(`Summary ${summary.summary_file}`);
  return lines.map((line) => (line.length <= width ? line : `${line.slice(0, Math.max(20, width) - 1)}…`)).join('\n');
}

function clock(seconds: number): string {
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}
