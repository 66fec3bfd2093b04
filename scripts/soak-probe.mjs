// Loaded into the gateway by scripts/soak.mjs (`node --import scripts/soak-probe.mjs`): every
// SOAK_PROBE_INTERVAL_MS (default 10 s) appends one JSON line to SOAK_PROBE_FILE with what
// only the process itself can see: memory (RSS, V8 heap, external), event-loop delay over the
// interval (p50, p99 and max, from perf_hooks' histogram, in ms) and its active handles and
// requests by type (process.getActiveResourcesInfo()). Does nothing without SOAK_PROBE_FILE.
import { appendFileSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setInterval } from 'node:timers';

const FILE = process.env.SOAK_PROBE_FILE;
if (FILE) {
  const intervalMs = Number(process.env.SOAK_PROBE_INTERVAL_MS ?? 10_000);
  writeFileSync(FILE, '');
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  setInterval(() => {
    const memory = process.memoryUsage();
    const resources = {};
    for (const type of process.getActiveResourcesInfo())
      resources[type] = (resources[type] ?? 0) + 1;
    const sample = {
      t: Date.now(),
      rss: memory.rss,
      heap_used: memory.heapUsed,
      external: memory.external,
      lag_ms: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
      handles: Object.values(resources).reduce((a, b) => a + b, 0),
      resources,
    };
    delay.reset();
    appendFileSync(FILE, `${JSON.stringify(sample)}\n`);
  }, intervalMs).unref();
}
