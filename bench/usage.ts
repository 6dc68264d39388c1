// Preloaded into the measured process (`node --import ./bench/rss.ts`): reports its peak RSS on exit.
process.on('exit', () => {
  process.stderr.write(`\nBENCH_MAX_RSS_KB=${process.resourceUsage().maxRSS}\n`);
});
