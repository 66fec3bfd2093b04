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
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from './servers.mjs';
import { summarize, round } from './stats.mjs';

// mcpgate's public entry point (package.json "exports"), as an embedder would import it.
const {
  readBundleFile,
  PolicyEngine,
  DECISION_ENTRYPOINT,
  MemoryStore,
  buildInput,
  decide,
  serialiseFor,
  ARGS_DIGEST_HEX,
} = await import('mcpgate');

const TARGETS = [
  'filesystem.read_file',
  'filesystem.list_directory',
  'filesystem.read_text_file',
  'github.get_pull_request',
  'filesystem.search_files',
  'everything.echo',
  'filesystem.write_file',
];

/** The n-th synthetic earlier call: a mix of tools and denials, one second apart. */
function syntheticEntry(i, n, nowNs) {
  return {
    action: 'tools/call',
    target: TARGETS[i % TARGETS.length],
    args_digest: (i * 2654435761)
      .toString(16)
      .padStart(ARGS_DIGEST_HEX, '0')
      .slice(-ARGS_DIGEST_HEX),
    allowed: i % TARGETS.length !== TARGETS.length - 1,
    at_ns: nowNs - (n - i) * 1e9,
  };
}

/**
 * Each case's input with its session replaced by what the gateway would send after n earlier
 * calls: the calls are recorded in the gateway's own MemoryStore, loaded back with the
 * configured history_limit and turned into input.session by the gateway's buildInput. The
 * case's own history entries are the most recent calls.
 */
async function inputsFor(cases, n, limits) {
  const inputs = [];
  for (const c of cases) {
    const input = JSON.parse(JSON.stringify(c.input));
    if (input.session) {
      const nowNs = Number(input.request?.time_ns ?? 1767225642000000000);
      const now = Math.floor(nowNs / 1e6);
      const own = n === 0 ? [] : (input.session.history ?? []).slice(-n);
      const store = new MemoryStore();
      const record = {
        id: input.session.id,
        principal: `${input.identity.issuer}\u0000${input.identity.subject}`,
        subject: input.identity.subject,
        purpose: input.session.purpose,
        createdAt: now - (input.session.age_s ?? 0) * 1000,
        expiresAt: null,
        protocolVersion: input.request?.protocol_version ?? '',
        clientInfo: input.request?.client ?? null,
        clientCapabilities: {},
      };
      await store.create(record, 3_600_000);
      const options = { ...limits, idleMs: 3_600_000, rateRules: [] };
      const padding = n - own.length;
      for (let i = 0; i < padding; i++) {
        await store.recordCall(record.id, syntheticEntry(i, padding, nowNs), options);
      }
      for (const entry of own) await store.recordCall(record.id, entry, options);
      const session = await store.load(record.id, limits.historyLimit, []);
      await store.close();
      const built = buildInput(
        input.action,
        {
          identity: input.identity,
          session,
          protocolVersion: record.protocolVersion,
          gateway: input.request.gateway,
        },
        undefined,
        now,
      );
      if (input.session.ttl_s !== undefined) built.session.ttl_s = input.session.ttl_s;
      input.session = built.session;
    }
    inputs.push(input);
  }
  return inputs;
}

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
const { cases } = JSON.parse(readFileSync(join(ROOT, 'rego/tests/cases.json'), 'utf8'));
const chosen = cases.filter(
  (c) =>
    c.entrypoint === DECISION_ENTRYPOINT &&
    c.input?.session?.purpose === 'code-review' &&
    c.input?.identity !== undefined,
);

// What the gateway sends by default (sessions.history_limit / summary_limit), or the job's.
const limits = { historyLimit: job.historyLimit ?? 20, summaryLimit: job.summaryLimit ?? 64 };
const results = [];
for (const n of job.histories ?? [0, 50, 500]) {
  const inputs = await inputsFor(chosen, n, limits);
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
