#!/usr/bin/env node
// Decision latency: one evaluation of mcp/authz/decision in-process (mcpgate's own
// PolicyEngine on the compiled wasm/bundle.tar.gz, exactly what the gateway calls per
// request) against the same policy served by an OPA server and queried over REST on one
// keep-alive connection (POST /v1/data/mcp/authz/decision {input}).
//
// Inputs: the code-review purpose's cases from rego/tests/cases.json (tools/call and the
// other actions of that purpose), each as the gateway would send it after N earlier calls:
// recorded in the gateway's MemoryStore, built by its buildInput (input.session holds the
// last history_limit entries, 20 by default, and the whole-session summary) and serialised
// by its serialiseFor, which leaves session.history out when the bundle records that no
// rule reads it (the shipped policy). Both sides get the same serialised input.
// Both sides time the whole call as a caller sees it: in-process, the gateway's own decide
// (serialise the input, evaluate, parse and check the decision); the OPA server: serialise,
// send, evaluate, receive, parse. Samples alternate over the inputs.
//
// Usage: node bench/lib/decision-worker.mjs '{"opaUrl":...,"histories":[0,50,500],...}'
// prints `RESULT <json>`.
import { Buffer } from 'node:buffer';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from './servers.mjs';
import { summarize, round } from './stats.mjs';

// mcpgate's public entry point (package.json "exports"), as an embedder would import it.
const { readBundleFile, PolicyEngine, DECISION_ENTRYPOINT, decide, serialiseFor } =
  await import('mcpgate');
const { decisionInputs, benchCases } = await import('./decision-inputs.mjs');

function inProcess(engine, inputs, samples, warmup) {
  const times = [];
  for (let i = 0; i < warmup + samples; i++) {
    const input = inputs[i % inputs.length];
    const t0 = performance.now();
    // The gateway's one decide: serialise, evaluate, parse, check and type the obligations.
    decide(engine, input);
    const t1 = performance.now();
    if (i >= warmup) times.push((t1 - t0) * 1000);
  }
  return { latencyUs: summarize(times) };
}

function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`OPA answered ${res.statusCode}`));
            return;
          }
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function sidecar(engine, opaUrl, inputs, samples, warmup) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${opaUrl}/v1/data/${DECISION_ENTRYPOINT}`;
  const times = [];
  for (let i = 0; i < warmup + samples; i++) {
    const input = inputs[i % inputs.length];
    const t0 = performance.now();
    await post(agent, url, `{"input":${serialiseFor(engine, input)}}`);
    const t1 = performance.now();
    if (i >= warmup) times.push((t1 - t0) * 1000);
  }
  agent.destroy();
  return { latencyUs: summarize(times) };
}

/** Every input once through both (untimed): the two must decide alike. */
async function agreement(engine, opaUrl, inputs) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${opaUrl}/v1/data/${DECISION_ENTRYPOINT}`;
  let same = 0;
  let allowed = 0;
  for (const input of inputs) {
    const json = serialiseFor(engine, input);
    const wasm = engine.evaluate(DECISION_ENTRYPOINT, json)?.allow === true;
    const rest = (await post(agent, url, `{"input":${json}}`)).result?.allow === true;
    if (wasm === rest) same++;
    if (wasm) allowed++;
  }
  agent.destroy();
  return { same, of: inputs.length, allowed };
}

const job = JSON.parse(process.argv[2] ?? '{}');
const bundle = readBundleFile(job.bundle ?? join(ROOT, 'wasm/bundle.tar.gz'));
const engine = PolicyEngine.load(bundle, { initialPages: 5, maxPages: 1024 });
const chosen = benchCases();

// What the gateway sends by default (sessions.history_limit / summary_limit), or the job's.
const limits = { historyLimit: job.historyLimit ?? 20, summaryLimit: job.summaryLimit ?? 64 };
const results = [];
for (const n of job.histories ?? [0, 50, 500]) {
  const inputs = await decisionInputs(chosen, n, limits);
  const wasm = inProcess(engine, inputs, job.wasmSamples ?? 20000, job.wasmWarmup ?? 2000);
  const rest = job.opaUrl
    ? await sidecar(engine, job.opaUrl, inputs, job.opaSamples ?? 5000, job.opaWarmup ?? 500)
    : null;
  const agree = job.opaUrl ? await agreement(engine, job.opaUrl, inputs) : null;
  results.push({
    history: n,
    inputs: inputs.length,
    inputBytesMean: round(
      inputs.reduce((s, x) => s + serialiseFor(engine, x).length, 0) / inputs.length,
      0,
    ),
    allowed: agree?.allowed ?? null,
    inProcessUs: wasm.latencyUs,
    sidecarUs: rest?.latencyUs ?? null,
    ratio: rest
      ? {
          p50: round(rest.latencyUs.p50 / wasm.latencyUs.p50, 1),
          p90: round(rest.latencyUs.p90 / wasm.latencyUs.p90, 1),
          p99: round(rest.latencyUs.p99 / wasm.latencyUs.p99, 1),
        }
      : null,
    agreement: agree ? { same: agree.same, of: agree.of } : null,
  });
}
process.stdout.write(
  `RESULT ${JSON.stringify({ revision: bundle.revision, cases: chosen.length, limits, results })}\n`,
);
