// Preloaded into a measured child process: reports its own peak RSS (KiB) and wall time on exit.
const start = Number(process.env.BENCH_T0 || Date.now());
process.on("exit", () => {
  const file = process.env.BENCH_PROBE_FILE;
  if (file)
    require("node:fs").writeFileSync(file, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, wallMs: Date.now() - start }));
});
