#!/usr/bin/env node
// Continuous verification (issue 19): what the behaviour signals cost a call, and what the
// state behind them costs a session. In-process, with mcpgate's own modules:
//   per call  behaviourOf (rates, baseline ratios, n-gram novelty, drift, age, denials,
//             repeats, and the argument provenance against the session's sketches) for a
//             tools/call whose session is loaded from a MemoryStore after N calls, with 0, 2
//             and 4 labelled sketches, a baseline for its purpose, and a query argument of
//             about 60 characters; plus, per labelled result, sketching its text (4 KB).
//   memory    bytes (V8 heap and ArrayBuffers) per idle session in a MemoryStore after 20
//             calls: recorded without the behaviour state (as before issue 19), with it, and
//             with two sketches too (a session that read internal data and a secret),
//             measured over many sessions with the heap settled (gc) before and after.
// The Redis store keeps the same state in the session's hash, written by the record and
// findings scripts and read by the load script: no round trip is added (session-store tests).
//
// Usage: node bench/lib/continuous-worker.mjs '{"calls":100000,"sessions":2000}'
// prints `RESULT <json>`.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { summarize, round } from './stats.mjs';

const { MemoryStore, behaviourOf, parseBaselines, sketchOf, resultTexts, minuteOf } =
  await import('mcpgate');

const job = JSON.parse(process.argv[2] ?? '{}');
const CALLS = job.calls ?? 100_000;
const SESSIONS = job.sessions ?? 2000;
const TOOLS = ['search.web_search', 'filesystem.read_text_file', 'everything.echo', 'fs.list'];
const RESULT = `Quarterly report (internal). ${'Revenue grew in every region; churn fell. '.repeat(90)}`;
const baselines = parseBaselines(
  {
    baselines: {
      purposes: {
        research: {
          sessions: 50,
          rate_per_min: { p50: 3, p95: 6, p99: 9 },
          duration_s: { p50: 600, p95: 1800, p99: 3600 },
          tools: TOOLS,
          ngrams: TOOLS.flatMap((a) => TOOLS.map((b) => `${a}>${b}`)).slice(0, 10),
        },
      },
    },
  },
  'bench',
);

function record(id) {
  return {
    id,
    principal: `iss\u0000${id}`,
    subject: id,
    purpose: 'research',
    createdAt: Date.now(),
    expiresAt: null,
    protocolVersion: '2025-11-25',
    clientInfo: { name: 'bench', version: '1' },
    clientCapabilities: {},
  };
}

const options = { historyLimit: 20, summaryLimit: 64, idleMs: 3_600_000, rateRules: [] };

async function sessionAfterCalls(store, id, calls, sketches, signals = true) {
  await store.create(record(id), 3_600_000);
  for (let i = 0; i < calls; i++) {
    await store.recordCall(
      id,
      {
        action: 'tools/call',
        target: TOOLS[i % TOOLS.length],
        args_digest: `${i}`.padStart(32, '0'),
        allowed: true,
        at_ns: Date.now() * 1e6,
      },
      signals
        ? { ...options, behaviour: { minute: minuteOf(Date.now()), novelNgrams: 0, novelTools: 0 } }
        : options,
    );
  }
  const labels = ['private', 'secret', 'pii', 'untrusted'].slice(0, sketches);
  if (labels.length > 0) {
    const sketch = sketchOf(resultTexts({ content: [{ type: 'text', text: RESULT }] }));
    await store.recordFindings(id, labels, {}, Object.fromEntries(labels.map((l) => [l, sketch])));
  }
}

async function perCall(sketches) {
  const store = new MemoryStore();
  await sessionAfterCalls(store, 's', 20, sketches);
  const loaded = await store.load('s', 20, []);
  const call = {
    action: 'tools/call',
    target: 'search.web_search',
    argsDigest: 'f'.repeat(32),
    args: { query: 'revenue grew in every region, how do competitors compare', limit: 10 },
  };
  for (let i = 0; i < 10_000; i++) behaviourOf(loaded, call, baselines, Date.now());
  const samples = new Float64Array(CALLS);
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    behaviourOf(loaded, call, baselines, Date.now());
    samples[i] = (performance.now() - t0) * 1000;
  }
  await store.close();
  return { sketches, us: summarize([...samples]) };
}

function sketchCost() {
  const result = { content: [{ type: 'text', text: RESULT }] };
  const samples = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    sketchOf(resultTexts(result));
    samples.push((performance.now() - t0) * 1000);
  }
  return { resultChars: RESULT.length, us: summarize(samples) };
}

// A settled heap needs gc(); the worker is started without --expose-gc, so it exposes it here.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

function settledHeap() {
  for (let i = 0; i < 4; i++) gc();
  // Sketches live in ArrayBuffers, outside the V8 heap.
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

async function memory(signals, sketches) {
  const store = new MemoryStore({ sweepIntervalMs: 3_600_000 });
  const before = settledHeap();
  for (let i = 0; i < SESSIONS; i++) {
    await sessionAfterCalls(store, `m${signals}${sketches}-${i}`, 20, sketches, signals);
  }
  const after = settledHeap();
  await store.close();
  return {
    signals,
    sketches,
    sessions: SESSIONS,
    bytesPerSession: round((after - before) / SESSIONS),
  };
}

const result = {
  perCall: [await perCall(0), await perCall(2), await perCall(4)],
  sketchPerResult: sketchCost(),
  memory: [await memory(false, 0), await memory(true, 0), await memory(true, 2)],
};
console.log(`RESULT ${JSON.stringify(result)}`);
