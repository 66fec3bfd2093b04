#!/usr/bin/env node
// Decision latency: one evaluation of mcp/authz/decision in-process (mcpgate's own
// PolicyEngine on the compiled wasm/bundle.tar.gz, exactly what the gateway calls per
// request) against the same policy served by an OPA server and queried over REST on one
// keep-alive connection (POST /v1/data/mcp/authz/decision {input}).
//
// Inputs: the code-review purpose's cases from rego/tests/cases.json (tools/call and the
// other actions of that purpose), each given a session history of exactly N entries.
// Both sides time the whole call as a caller sees it: serialise the input, evaluate (or
// send, evaluate, receive), parse the result. Samples alternate over the inputs.
//
// Usage: node bench/lib/decision-worker.mjs '{"opaUrl":...,"histories":[0,50,500],...}'
// prints `RESULT <json>`.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from './servers.mjs';
import { summarize, round } from './stats.mjs';

const { readBundleFile } = await import(join(ROOT, 'dist/src/policy/bundle.js'));
const { PolicyEngine, DECISION_ENTRYPOINT } = await import(join(ROOT, 'dist/src/policy/engine.js'));

const TARGETS = [
  'filesystem.read_file',
  'filesystem.list_directory',
  'filesystem.read_text_file',
  'github.get_pull_request',
  'filesystem.search_files',
  'everything.echo',
  'filesystem.write_file',
];

/** N history entries as the gateway records them, oldest first, a mix of tools and denials. */
function history(n, nowNs) {
  const entries = [];
  for (let i = 0; i < n; i++) {
    const at = new Date(Number(nowNs / 1_000_000n) - (n - i) * 1000).toISOString();
    entries.push({
      action: 'tools/call',
      target: TARGETS[i % TARGETS.length],
      args_digest: (i * 2654435761).toString(16).padStart(64, '0').slice(-64),
      allowed: i % TARGETS.length !== TARGETS.length - 1,
      at,
    });
  }
  return entries;
}

function inputsFor(cases, n) {
  return cases.map((c) => {
    const input = JSON.parse(JSON.stringify(c.input));
    const nowNs = BigInt(input.request?.time_ns ?? 1767225642000000000n);
    if (input.session) {
      // The case's own history last (the most recent entries), padded to exactly n.
      const own = n === 0 ? [] : (input.session.history ?? []).slice(-n);
      input.session.history = [...history(n - own.length, nowNs), ...own];
      input.session.counters = { calls: n, denied: Math.floor(n / TARGETS.length) };
    }
    return input;
  });
}

function inProcess(engine, inputs, samples, warmup) {
  const times = [];
  for (let i = 0; i < warmup + samples; i++) {
    const input = inputs[i % inputs.length];
    const t0 = performance.now();
    engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify(input));
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

async function sidecar(opaUrl, inputs, samples, warmup) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${opaUrl}/v1/data/${DECISION_ENTRYPOINT}`;
  const times = [];
  for (let i = 0; i < warmup + samples; i++) {
    const input = inputs[i % inputs.length];
    const t0 = performance.now();
    await post(agent, url, JSON.stringify({ input }));
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
    const wasm = engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify(input))?.allow === true;
    const rest = (await post(agent, url, JSON.stringify({ input }))).result?.allow === true;
    if (wasm === rest) same++;
    if (wasm) allowed++;
  }
  agent.destroy();
  return { same, of: inputs.length, allowed };
}

const job = JSON.parse(process.argv[2] ?? '{}');
const bundle = readBundleFile(job.bundle ?? join(ROOT, 'wasm/bundle.tar.gz'));
const engine = PolicyEngine.load(bundle, { initialPages: 5, maxPages: 1024 });
const { cases } = JSON.parse(readFileSync(join(ROOT, 'rego/tests/cases.json'), 'utf8'));
const chosen = cases.filter(
  (c) =>
    c.entrypoint === DECISION_ENTRYPOINT &&
    c.input?.session?.purpose === 'code-review' &&
    c.input?.identity !== undefined,
);

const results = [];
for (const n of job.histories ?? [0, 50, 500]) {
  const inputs = inputsFor(chosen, n);
  const wasm = inProcess(engine, inputs, job.wasmSamples ?? 20000, job.wasmWarmup ?? 2000);
  const rest = job.opaUrl
    ? await sidecar(job.opaUrl, inputs, job.opaSamples ?? 5000, job.opaWarmup ?? 500)
    : null;
  const agree = job.opaUrl ? await agreement(engine, job.opaUrl, inputs) : null;
  results.push({
    history: n,
    inputs: inputs.length,
    inputBytesMean: round(
      inputs.reduce((s, x) => s + JSON.stringify(x).length, 0) / inputs.length,
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
  `RESULT ${JSON.stringify({ revision: bundle.revision, cases: chosen.length, results })}\n`,
);
