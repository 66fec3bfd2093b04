#!/usr/bin/env node
// The telemetry work of one tools/call, in process, with the gateway's real code: a Chain
// with the observe stages (observe.ts), a stage span each for policy, the argument
// inspection, the session record and the result inspection (chain.ts), the upstream call
// wrapped by measureUpstreamCall (observe-upstream.ts, its CLIENT span and trace context),
// the arrival's authentication and session-load spans, metrics, and the OTLP export to a
// loopback sink that discards the bodies (the worker thread's CPU counts: process.cpuUsage
// is the whole process's). The stages do nothing else, so what is measured is telemetry.
// CPU µs per call for tracing off (metrics only), 1 % and 100 %, interleaved, median of
// the repeats. Needs `npm run build`.
//
//   node bench/tools/telemetry-micro.mjs [--calls 20000] [--repeats 7] [--dist DIR]
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values: flags } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    repeats: { type: 'string', default: '7' },
    dist: { type: 'string', default: resolve(import.meta.dirname, '../../dist') },
  },
});
const load = (path) => import(pathToFileURL(join(flags.dist, path)).href);
const { Chain } = await load('src/pipeline/chain.js');
const { beginObservation, endObservation } = await load('src/pipeline/stages/observe.js');
const { measureUpstreamCall, upstreamTraceContext } = await load(
  'src/pipeline/stages/observe-upstream.js',
);
const { GatewayMetrics } = await load('src/telemetry/metrics.js');
const { Tracing } = await load('src/telemetry/tracing.js');
const { SPAN } = await load('src/telemetry/span-names.js');
const { requestContext } = await load('test/unit/support/context.js');

let exports = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    exports++;
    res.end('{}');
  });
});
await new Promise((done) => sink.listen(0, '127.0.0.1', done));
const endpoint = `http://127.0.0.1:${sink.address().port}/v1/traces`;

function tracing(ratio) {
  return new Tracing(
    {
      enabled: true,
      endpoint,
      headers: {},
      sampleRatio: ratio,
      serviceName: 'bench',
      maxQueueSpans: 65536,
      exportIntervalMs: 2000,
      exportTimeoutMs: 10000,
    },
    { name: 'bench', version: '0', instance: 'bench' },
  );
}

const TARGET = { kind: 'tool', server: 'everything', name: 'echo', exposed: 'everything__echo' };
const stage = (name, span) => ({ name, when: 'always', span, run: () => undefined });

function chainFor(telemetry) {
  const forward = measureUpstreamCall(
    {
      name: 'forward',
      when: 'allowed',
      // The trace context the upstream gets is read, as the forward stage does.
      run(ctx) {
        upstreamTraceContext(ctx);
        ctx.result = { content: [] };
        return Promise.resolve(undefined);
      },
    },
    telemetry,
  );
  return new Chain(
    'tools/call',
    [
      beginObservation(telemetry),
      stage('inspect arguments', SPAN.guardrailArguments),
      stage('decide', SPAN.policyEvaluate),
      stage('record', SPAN.sessionRecord),
      forward,
      stage('inspect result', SPAN.guardrailResult),
      endObservation(telemetry),
    ],
    (ctx) => ctx.result,
  );
}

const configs = [
  {
    name: 'metrics, tracing off',
    telemetry: { metrics: new GatewayMetrics({ processMetrics: false }) },
  },
  {
    name: 'metrics + tracing 1 %',
    telemetry: { metrics: new GatewayMetrics({ processMetrics: false }), tracing: tracing(0.01) },
  },
  {
    name: 'metrics + tracing 100 %',
    telemetry: { metrics: new GatewayMetrics({ processMetrics: false }), tracing: tracing(1) },
  },
];
for (const c of configs) c.chain = chainFor(c.telemetry);

async function call(chain, i, traced) {
  const ctx = requestContext('tools/call');
  ctx.params = { name: 'everything__echo', arguments: { text: 'hi' } };
  ctx.target = TARGET;
  if (traced) {
    // What the listener and the session load note for a traced gateway.
    const at = performance.now();
    ctx.arrival = {
      at,
      authenticated: performance.now(),
      loadStart: performance.now(),
      loadEnd: performance.now(),
    };
  }
  void i;
  await chain.run(ctx);
}

async function run(config, calls) {
  const traced = config.telemetry.tracing !== undefined;
  const started = process.cpuUsage();
  for (let i = 0; i < calls; i++) await call(config.chain, i, traced);
  // The export of these spans: a batch fills, or the 2 s interval sends the rest.
  if (traced) await new Promise((done) => setTimeout(done, 2200));
  const used = process.cpuUsage(started);
  return (used.user + used.system) / calls;
}

const CALLS = Number(flags.calls);
const REPEATS = Number(flags.repeats);
for (const c of configs) await run(c, Math.min(CALLS, 5000));
const results = Object.fromEntries(configs.map((c) => [c.name, []]));
for (let r = 0; r < REPEATS; r++) {
  for (let k = 0; k < configs.length; k++) {
    const c = configs[(k + r) % configs.length];
    results[c.name].push(await run(c, CALLS));
  }
}
// The idle wait of a run without tracing costs nothing; with it, the wait is in each run.
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const off = median(results[configs[0].name]);
for (const c of configs) {
  const us = median(results[c.name]);
  console.log(
    `${c.name.padEnd(26)} ${us.toFixed(2).padStart(7)} µs/call (median of ${REPEATS}: ` +
      `${results[c.name].map((v) => v.toFixed(1)).join(', ')}), ` +
      `+${(us - off).toFixed(2)} µs over tracing off`,
  );
}
console.log(`(${exports} export requests; each run includes a 2.2 s idle wait when traced)`);
for (const c of configs) await c.telemetry.tracing?.close();
sink.close();
