#!/usr/bin/env node
// Compares the decision time of two policy bundles in one process, for a noisy machine:
// both are loaded with the gateway's PolicyEngine and timed through the gateway's own
// decide (serialise the input, evaluate, parse and check), on the bench's inputs (the
// code-review cases of rego/tests/cases.json after N earlier calls, decision-inputs.mjs).
// The bundles take turns, round by round and in alternating order, so drift in the
// machine's load hits both alike; the figure per bundle is the median over rounds of each
// round's p50 (and p99). Before timing, every input is decided by both bundles and the
// decisions must be equal, so a faster bundle cannot be one that decides differently.
//
// With --profile, it instead profiles bundle A alone (the V8 sampling profiler, in this
// process) and prints the share of samples per function: self time, and inclusive time
// (samples with the function anywhere on the stack). The policy's wasm functions are
// named by rule (g0.data.mcp.authz.allow), so inclusive shares read per rule.
//
// Usage:
//   node bench/tools/decision-ab.mjs --a wasm/bundle.tar.gz --b /tmp/before.tar.gz \
//     [--history 50] [--rounds 40] [--samples 2000]
//   node bench/tools/decision-ab.mjs --a wasm/bundle.tar.gz --profile [--seconds 5] \
//     [--out decision.cpuprofile]
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { summarize } from '../lib/stats.mjs';

const { readBundleFile, PolicyEngine, DECISION_ENTRYPOINT, decide, serialiseFor } =
  await import('mcpgate');
const { decisionInputs, benchCases } = await import('../lib/decision-inputs.mjs');

const { values: opts } = parseArgs({
  options: {
    a: { type: 'string', default: 'wasm/bundle.tar.gz' },
    b: { type: 'string' },
    history: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '40' },
    samples: { type: 'string', default: '2000' },
    profile: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '5' },
    top: { type: 'string', default: '30' },
    out: { type: 'string' },
  },
});

const load = (path) => PolicyEngine.load(readBundleFile(path), { initialPages: 5, maxPages: 1024 });
const limits = { historyLimit: 20, summaryLimit: 64 };
const history = Number(opts.history);

/** p50 and p99 (µs) of `samples` decisions, cycling over the inputs. */
function timeRound(engine, inputs, samples) {
  const times = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const input = inputs[i % inputs.length];
    const t0 = performance.now();
    decide(engine, input);
    times[i] = (performance.now() - t0) * 1000;
  }
  const s = summarize(times);
  return { p50: s.p50, p99: s.p99 };
}

function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

async function compare() {
  const engines = { A: load(opts.a), B: load(opts.b) };
  // Each engine gets its own inputs: serialiseFor leaves out what its bundle never reads.
  const inputs = await decisionInputs(benchCases(), history, limits);
  let differing = 0;
  for (const input of inputs) {
    // The policy's whole answer (allow, reasons, every obligation), not only allow.
    const answer = (engine) =>
      JSON.stringify(engine.evaluate(DECISION_ENTRYPOINT, serialiseFor(engine, input)));
    const a = answer(engines.A);
    const b = answer(engines.B);
    if (a !== b) {
      differing++;
      if (differing <= 3) process.stderr.write(`decisions differ:\n  A ${a}\n  B ${b}\n`);
    }
  }
  const bytes = (engine) =>
    Math.round(inputs.reduce((s, x) => s + serialiseFor(engine, x).length, 0) / inputs.length);
  const samples = Number(opts.samples);
  for (const name of ['A', 'B']) timeRound(engines[name], inputs, samples); // warm up
  const rounds = { A: [], B: [] };
  for (let r = 0; r < Number(opts.rounds); r++) {
    const order = r % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const name of order) rounds[name].push(timeRound(engines[name], inputs, samples));
  }
  const result = {};
  for (const name of ['A', 'B']) {
    result[name] = {
      bundle: name === 'A' ? opts.a : opts.b,
      revision: engines[name].revision,
      inputBytesMean: bytes(engines[name]),
      p50Us: median(rounds[name].map((x) => x.p50)),
      p99Us: median(rounds[name].map((x) => x.p99)),
    };
  }
  result.aFasterByP50Us = Math.round((result.B.p50Us - result.A.p50Us) * 10) / 10;
  result.aRoundsFaster = rounds.A.filter((x, i) => x.p50 < rounds.B[i].p50).length;
  result.rounds = Number(opts.rounds);
  result.inputs = inputs.length;
  result.history = history;
  result.decisionsDiffer = differing;
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (differing > 0) process.exitCode = 1;
}

async function profile() {
  const engine = load(opts.a);
  const inputs = await decisionInputs(benchCases(), history, limits);
  for (let i = 0; i < 5000; i++) decide(engine, inputs[i % inputs.length]);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 50 });
  await session.post('Profiler.start');
  const until = performance.now() + Number(opts.seconds) * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) decide(engine, inputs[i % inputs.length]);
  }
  const { profile: cpu } = await session.post('Profiler.stop');
  session.disconnect();
  if (opts.out) writeFileSync(opts.out, JSON.stringify(cpu));

  const byId = new Map(cpu.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of cpu.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => n.callFrame.functionName || `(anonymous ${n.callFrame.url})`;
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  for (const id of cpu.samples) {
    const leaf = byId.get(id);
    const leafName = name(leaf);
    if (leafName === '(idle)' || leafName === '(program)') continue;
    total++;
    self.set(leafName, (self.get(leafName) ?? 0) + 1);
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const fn = name(byId.get(n));
      if (seen.has(fn)) continue;
      seen.add(fn);
      inclusive.set(fn, (inclusive.get(fn) ?? 0) + 1);
    }
  }
  const top = Number(opts.top);
  const share = (m) =>
    [...m]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([fn, n]) => `${((100 * n) / total).toFixed(1).padStart(5)} %  ${fn}`)
      .join('\n');
  process.stdout.write(
    `bundle ${engine.revision}, history ${history}, ${total} samples\n` +
      `\ninclusive (on the stack):\n${share(inclusive)}\n\nself:\n${share(self)}\n`,
  );
}

if (opts.profile) await profile();
else if (opts.b) await compare();
else throw new Error('give --b BUNDLE to compare with, or --profile');
