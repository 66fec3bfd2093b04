// A preload for the gateway in the fullpath section (`node --import bench/lib/gc-observer.mjs
// bin/mcpgate.js start …`): records every garbage collection V8 reports (PerformanceObserver
// on 'gc' entries) and writes them to BENCH_GC_FILE when the process exits, so the bench can
// show the pause distribution of one load phase (it keeps the entries inside the phase's
// wall-clock window). Nothing of it is in src/: the gateway runs unchanged.
//
// The file: {"kinds": {"1": "scavenge", …}, "entries": [[t, ms, kind], …]}, t in epoch ms
// (performance.timeOrigin + startTime), ms the pause V8 reports for that collection.
import { writeFileSync } from 'node:fs';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';

const FILE = process.env.BENCH_GC_FILE;

/** V8's GC kinds as perf_hooks reports them in entry.detail.kind. */
const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

if (FILE) {
  const origin = performance.timeOrigin;
  // Flat numbers, not objects: the observer must not add much garbage of its own.
  const entries = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      entries.push(origin + entry.startTime, entry.duration, entry.detail?.kind ?? 0);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  process.on('exit', () => {
    const rows = [];
    for (let i = 0; i < entries.length; i += 3) {
      rows.push([
        Math.round(entries[i] * 1000) / 1000,
        Math.round(entries[i + 1] * 10000) / 10000,
        entries[i + 2],
      ]);
    }
    writeFileSync(FILE, JSON.stringify({ kinds: KINDS, entries: rows }));
  });
}
