// A diagnostic preload for the gateway (not used by a normal bench run): records, with
// wall-clock timestamps, what could stall the event loop, so slow calls traced by the
// load generator (BENCH_TRACE_DIR) can be matched against it afterwards.
//
//   BENCH_GATEWAY_NODE_ARGS="--import $PWD/bench/tools/stall-probe.mjs" \
//   STALL_PROBE_FILE=/tmp/probe.jsonl BENCH_TRACE_DIR=/tmp/trace \
//   node bench/run.mjs --only overhead --out /tmp/x
//
// One JSON line per record, `t` in epoch ms (performance.timeOrigin + startTime):
//   {"k":"gc","t","ms","kind"}          every GC (PerformanceObserver 'gc')
//   {"k":"lag","t","ms"}                a 5 ms timer that fired more than 2 ms late (loop blocked)
//   {"k":"write","t","ms","bytes"}      a synchronous fs.writeSync that took over 0.2 ms
//   {"k":"writev","t","ms","bytes"}     an fs.writev (thread pool) that took over 0.2 ms to complete
//   {"k":"sock","t","host"}             a new outgoing socket (http.Agent.createConnection)
//   {"k":"conn","t"}                    a new incoming connection on an http.Server
//   {"k":"heap","t",...}                heap spaces every second
// STALL_PROBE_SAMPLE (below): a sampling heap profile of the objects that outlived a scavenge.
// Records are buffered in memory and written with one appendFileSync per second.
import { appendFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs';
import http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setInterval, setTimeout } from 'node:timers';
import v8 from 'node:v8';

const FILE = process.env.STALL_PROBE_FILE;
if (FILE) {
  writeFileSync(FILE, '');
  const origin = performance.timeOrigin;
  let buffer = [];
  const rec = (r) => buffer.push(JSON.stringify(r));
  const flush = () => {
    if (buffer.length === 0) return;
    const text = `${buffer.join('\n')}\n`;
    buffer = [];
    appendFileSync(FILE, text);
  };

  // perf_hooks.constants.NODE_PERFORMANCE_GC_*: MINOR 1, MAJOR 4, INCREMENTAL 8, WEAKCB 16.
  const KINDS = { 1: 'scavenge', 4: 'major', 8: 'incremental', 16: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      rec({
        k: 'gc',
        t: origin + e.startTime,
        ms: e.duration,
        kind: KINDS[e.detail?.kind] ?? e.detail?.kind,
      });
    }
  }).observe({ entryTypes: ['gc'] });

  const PERIOD = 5;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - PERIOD;
    if (late > 2) rec({ k: 'lag', t: origin + last + PERIOD, ms: late });
    last = now;
  }, PERIOD).unref();

  const writeSync = fs.writeSync;
  fs.writeSync = function timedWriteSync(...args) {
    const s = performance.now();
    const n = writeSync.apply(this, args);
    const ms = performance.now() - s;
    if (ms > 0.2) rec({ k: 'write', t: origin + s, ms, bytes: n });
    return n;
  };
  const writev = fs.writev;
  fs.writev = function timedWritev(fd, buffers, ...rest) {
    const s = performance.now();
    const callback = rest.pop();
    return writev.call(this, fd, buffers, ...rest, (err, bytes, ...more) => {
      const ms = performance.now() - s;
      if (ms > 0.2) rec({ k: 'writev', t: origin + s, ms, bytes, err: err?.code });
      callback(err, bytes, ...more);
    });
  };
  syncBuiltinESMExports();

  const createConnection = http.Agent.prototype.createConnection;
  http.Agent.prototype.createConnection = function traced(options, ...rest) {
    rec({ k: 'sock', t: origin + performance.now(), host: `${options.host}:${options.port}` });
    return createConnection.call(this, options, ...rest);
  };
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function tracedEmit(event, ...args) {
    if (event === 'connection') rec({ k: 'conn', t: origin + performance.now() });
    return emit.call(this, event, ...args);
  };

  setInterval(() => {
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) {
      spaces[s.space_name] = Math.round(s.space_used_size / 1024);
    }
    rec({ k: 'heap', t: Date.now(), rss: process.memoryUsage.rss(), spacesKB: spaces });
    flush();
  }, 1000).unref();
  process.on('exit', flush);
}

// STALL_PROBE_SAMPLE=FILE: a sampling heap profile of the objects that outlived a scavenge
// (promoted: collected by a major GC or still alive), from STALL_PROBE_SAMPLE_FROM_S to
// STALL_PROBE_SAMPLE_TO_S seconds after start, written as a .heapprofile to FILE.
const SAMPLE = process.env.STALL_PROBE_SAMPLE;
if (SAMPLE) {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method, params = {}) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  const from = Number(process.env.STALL_PROBE_SAMPLE_FROM_S ?? 20) * 1000;
  const to = Number(process.env.STALL_PROBE_SAMPLE_TO_S ?? 30) * 1000;
  setTimeout(() => {
    void post('HeapProfiler.enable').then(() =>
      post('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: false,
      }),
    );
  }, from).unref();
  setTimeout(() => {
    void post('HeapProfiler.stopSampling').then(({ profile }) => {
      writeFileSync(SAMPLE, JSON.stringify(profile));
    });
  }, to).unref();
}
