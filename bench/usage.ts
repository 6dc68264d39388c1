// Preloaded into the measured process (`node --import ./bench/usage.ts`): reports on exit its peak
// RSS and the CPU it used, worker threads included (process.cpuUsage counts every thread), and
// that CPU split by thread (bench/threads.ts: a sample every 200 ms costs the main thread about
// 0.2 ms, a thousandth of a core).
// The peak is VmHWM, the high-water mark of this process's own memory: getrusage's maxRSS also
// counts the memory of the process it was forked from (the bench, holding gigabytes of generated
// exports), since the kernel keeps that figure across exec.
import { readFileSync } from 'node:fs';
import { ThreadCpuSampler } from './threads.ts';

const threads = new ThreadCpuSampler();

process.on('exit', () => {
  const cpu = process.cpuUsage();
  const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  process.stderr.write(
    `\nBENCH_MAX_RSS_KB=${hwm ?? process.resourceUsage().maxRSS}\nBENCH_CPU_MS=${cpuMs}\nBENCH_THREAD_CPU_MS=${JSON.stringify(threads.total(cpuMs))}\n`,
  );
});
