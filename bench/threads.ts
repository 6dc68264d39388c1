// CPU per thread of this process, from /proc/self/task (Linux): which part of a Node process's CPU
// its own JavaScript threads used and which V8's helper threads used (parallel and concurrent
// garbage collection, compiling in the background). process.cpuUsage() only gives the sum.
//
// V8's CPU profiler cannot tell this: it samples on wall-clock time, so a thread that waits for a
// core (two parse threads and Postgres sharing two) shows up to twice its real CPU there.
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports thread CPU in USER_HZ ticks, 100 a second on every architecture Node runs on. */
const MS_PER_TICK = 10;

export interface ThreadCpu {
  /** The process's main thread. */
  main: number;
  /** Worker threads started by the program (node:worker_threads): the parse threads. */
  workers: number;
  /** V8's platform threads: garbage collection helpers and background compiling. */
  v8: number;
  /** The rest of the process's CPU: libuv's pool, and what threads that ended used after their last sample. */
  other: number;
}

/** CPU milliseconds used so far by each live thread of this process, with its name. */
function sample(): Map<number, { name: string; ms: number }> {
  const threads = new Map<number, { name: string; ms: number }>();
  for (const entry of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${entry}/stat`, 'utf8');
      // Fields after the name, which is in parentheses and may hold spaces: utime and stime are
      // the 14th and 15th fields of the line, the 12th and 13th after it.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
      threads.set(Number(entry), { name: readFileSync(`/proc/self/task/${entry}/comm`, 'utf8').trim(), ms });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/**
 * Samples the threads every `intervalMs` until total() is asked: a thread that ends (a parse thread
 * at the end of the run) keeps what it had used at the last sample, so up to `intervalMs` of its
 * CPU falls into `other`, which is what process.cpuUsage() counts beyond the threads seen.
 */
export class ThreadCpuSampler {
  private readonly seen = new Map<number, { name: string; ms: number }>();
  /** What each thread had used when sampling began (counted from then on), or nothing (from the process's start). */
  private readonly before: Map<number, { ms: number }>;
  private readonly timer: NodeJS.Timeout;

  constructor(options: { fromNow?: boolean; intervalMs?: number } = {}) {
    this.before = options.fromNow ? sample() : new Map();
    this.timer = setInterval(() => this.poll(), options.intervalMs ?? 200).unref();
  }

  /** The split of `totalMs` (process.cpuUsage's user + system) by kind of thread. */
  total(totalMs: number): ThreadCpu {
    clearInterval(this.timer);
    this.poll();
    const split: ThreadCpu = { main: 0, workers: 0, v8: 0, other: 0 };
    for (const [tid, thread] of this.seen) {
      const { name } = thread;
      const ms = thread.ms - (this.before.get(tid)?.ms ?? 0);
      if (tid === process.pid) split.main += ms;
      else if (name === 'WorkerThread') split.workers += ms;
      else if (name.startsWith('V8')) split.v8 += ms;
    }
    split.other = Math.max(0, totalMs - split.main - split.workers - split.v8);
    return split;
  }

  private poll(): void {
    for (const [tid, thread] of sample()) this.seen.set(tid, thread);
  }
}
