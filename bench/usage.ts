// Preloaded into the measured process (`node --import ./bench/usage.ts`): reports on exit its peak
// RSS and the CPU it used, worker threads included (process.cpuUsage counts every thread).
process.on('exit', () => {
  const cpu = process.cpuUsage();
  process.stderr.write(`\nBENCH_MAX_RSS_KB=${process.resourceUsage().maxRSS}\nBENCH_CPU_MS=${Math.round((cpu.user + cpu.system) / 1000)}\n`);
});
