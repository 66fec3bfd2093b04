#!/usr/bin/env node
// The load generator: a separate process (pinned to the client core by the orchestrator)
// that drives real MCP clients at an MCP endpoint (the gateway, or the upstream directly
// for the baseline). Two clients: `client: 'lean'` (default), bench/lib/mcp-client.mjs, a
// Streamable HTTP JSON-RPC client on node:http keep-alive agents (real initialize
// handshake, bearer token, JSON and SSE answers, every result checked); `client: 'sdk'`,
// the SDK's Client over StreamableHTTPClientTransport (several times the CPU per call;
// kept as a reference point).
//
// Usage: node bench/lib/loadgen.mjs '<job JSON>'; prints one line `RESULT <json>`.
//
// Job: { mode: 'calls' | 'open-sessions', url, token, ... } — see runCalls and
// openSessions below. Every loop is bounded by a call count and a deadline.
//
// Open loop (fixed rate): call i is due at t0 + i/rate whatever happened to earlier calls,
// round-robin over the sessions; its latency is measured from when it was due, not from
// when it was sent, so a stalled system is not hidden by a slowed-down client (no
// coordinated omission). Calls due while `maxOutstanding` are in flight are not sent and
// are counted as `overload`.
// Closed loop (max throughput): `concurrency` workers, each with one call in flight at a
// time; throughput is the calls completed inside the measured window over its length.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout, clearTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LeanMcpClient, makeAgent } from './mcp-client.mjs';
import { CLK_TCK, cpuTicks, machineTicks } from './procs.mjs';
import { summarize } from './stats.mjs';

const MAX_CALLS_PER_PHASE = 400_000;
const MAX_ERROR_SAMPLES = 5;

function headersFor(job) {
  return job.token ? { Authorization: `Bearer ${job.token}` } : {};
}

/** Runs fn(i) for i in 0..n-1 with at most `limit` running at once. */
async function mapLimit(n, limit, fn) {
  const results = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return results;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** CPU use of watched processes (and this one) between two snapshots, in % of one core. */
function cpuSnapshot(watch) {
  const ticks = {};
  for (const [name, pid] of Object.entries(watch ?? {})) ticks[name] = cpuTicks(pid);
  return { at: performance.now(), ticks, self: process.cpuUsage(), machine: machineTicks() };
}

function cpuBetween(a, b) {
  const wallS = (b.at - a.at) / 1000;
  if (wallS <= 0) return {};
  const out = {};
  for (const name of Object.keys(a.ticks)) {
    const x = a.ticks[name];
    const y = b.ticks[name];
    out[name] =
      x === null || y === null ? null : Math.round(((y - x) / CLK_TCK / wallS) * 1000) / 10;
  }
  const self = process.cpuUsage(a.self);
  out.loadgen = Math.round(((self.user + self.system) / 1e6 / wallS) * 1000) / 10;
  // Everything else the machine did meanwhile (other processes, the kernel): a measurement
  // taken while something else ran is flagged in the report.
  if (a.machine && b.machine) {
    const machine = ((b.machine.busy - a.machine.busy) / CLK_TCK / wallS) * 100;
    const ours = Object.values(out).reduce((sum, v) => sum + (v ?? 0), 0);
    out.machine = Math.round(machine * 10) / 10;
    out.other = Math.round(Math.max(0, machine - ours) * 10) / 10;
  }
  return out;
}

class Errors {
  count = 0;
  samples = [];
  add(message) {
    this.count++;
    if (this.samples.length < MAX_ERROR_SAMPLES && !this.samples.includes(message)) {
      this.samples.push(message);
    }
  }
}

/** The lean client's keep-alive agent: shared by every session of this process. */
let agent;

async function connectAll(job) {
  const started = performance.now();
  const lean = (job.client ?? 'lean') === 'lean';
  if (lean) agent ??= makeAgent(job.maxSockets ?? 512);
  const clients = await mapLimit(job.sessions, job.connectConcurrency ?? 8, async () => {
    if (lean) {
      const client = new LeanMcpClient(job.url, {
        token: job.token,
        agent,
        timeoutMs: job.callTimeoutMs ?? 10_000,
      });
      await withTimeout(client.connect(), Math.max(30_000, job.callTimeoutMs ?? 0), 'connect');
      return client;
    }
    const client = new Client({ name: 'mcpgate-bench', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(job.url), {
      requestInit: { headers: headersFor(job) },
    });
    await withTimeout(client.connect(transport), 30_000, 'connect');
    return client;
  });
  return { clients, connectMs: Math.round(performance.now() - started) };
}

/** Checks a tools/call result's text when the job names the text to expect. */
function checkText(job, result) {
  if (job.expectText === undefined) return;
  const text = (result.content ?? []).map((c) => c.text ?? '').join('');
  if (text !== job.expectText) {
    throw new Error(`unexpected result text: ${JSON.stringify(text.slice(0, 200))}`);
  }
}

function makeCall(job) {
  const args = job.args ?? {};
  if ((job.client ?? 'lean') === 'lean') {
    return async (client) => checkText(job, await client.callTool(job.tool, args));
  }
  const params = { name: job.tool, arguments: args };
  const options = { timeout: job.callTimeoutMs ?? 10_000 };
  return async (client) => {
    const result = await client.callTool(params, undefined, options);
    if (result.isError) {
      const text = (result.content ?? []).map((c) => c.text ?? '').join(' ');
      throw new Error(`tool error: ${text.slice(0, 200)}`);
    }
    checkText(job, result);
  };
}

/** Each session makes `count` calls one after another (fills its history). */
async function warm(clients, call, count) {
  const errors = new Errors();
  if (count <= 0) return { calls: 0, errors: 0 };
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (let i = 0; i < count; i++) {
        await call(client).catch((err) => errors.add(String(err?.message ?? err)));
      }
    }),
  );
  return {
    calls: count * clients.length,
    errors: errors.count,
    errorSamples: errors.samples,
    ms: Math.round(performance.now() - started),
  };
}

async function openLoop(job, clients, call, phase) {
  const intervalMs = 1000 / phase.rate;
  const warmN = Math.round(phase.rate * (phase.warmupS ?? 0));
  const measuredN = Math.min(
    phase.maxCalls ?? MAX_CALLS_PER_PHASE,
    Math.round(phase.rate * phase.durationS),
  );
  const total = warmN + measuredN;
  const maxOutstanding = phase.maxOutstanding ?? job.maxOutstanding ?? 2000;
  const latencies = [];
  const lags = [];
  const errors = new Errors();
  let overload = 0;
  let outstanding = 0;
  let completedMeasured = 0;
  let lastDone = 0;
  let cpuStart;
  let drained;
  const allDone = new Promise((resolve) => (drained = resolve));
  let fired = 0;
  const t0 = performance.now() + 5;
  // BENCH_TRACE_DIR: every measured call's due time, send lag and latency, for diagnosis.
  const trace = process.env.BENCH_TRACE_DIR ? [] : undefined;

  const fire = (i) => {
    const due = t0 + i * intervalMs;
    if (i === warmN) cpuStart = cpuSnapshot(job.watch);
    const measured = i >= warmN;
    if (outstanding >= maxOutstanding) {
      if (measured) overload++;
      settle();
      return;
    }
    outstanding++;
    const sentAt = performance.now();
    if (measured) lags.push((sentAt - due) * 1000);
    call(clients[i % clients.length])
      .then(
        () => {
          if (measured) {
            lastDone = performance.now();
            latencies.push((lastDone - due) * 1000);
            completedMeasured++;
            trace?.push([i, due, sentAt - due, lastDone - due]);
          }
        },
        (err) => {
          if (measured) errors.add(String(err?.message ?? err));
        },
      )
      .finally(() => {
        outstanding--;
        settle();
      });
  };
  let settledCount = 0;
  const settle = () => {
    settledCount++;
    if (settledCount === total) drained();
  };

  while (fired < total) {
    const now = performance.now();
    while (fired < total && t0 + fired * intervalMs <= now) fire(fired++);
    if (fired < total) await sleep(Math.max(0, t0 + fired * intervalMs - performance.now()));
  }
  const scheduleEnd = performance.now();
  const drainMs = (job.callTimeoutMs ?? 10_000) + 2000;
  await Promise.race([allDone, sleep(drainMs)]);
  const cpuEnd = cpuSnapshot(job.watch);
  if (trace) writeTrace(job, phase, clients.length, trace);
  // Completions per second from the first measured call's due time to the last
  // completion: below the rate when calls pile up and finish late.
  const firstDue = t0 + warmN * intervalMs;
  const windowS = (Math.max(scheduleEnd, lastDone) - firstDue) / 1000;
  return {
    name: phase.name,
    mode: 'open',
    rate: phase.rate,
    sessions: clients.length,
    durationS: phase.durationS,
    scheduled: measuredN,
    completed: completedMeasured,
    errors: errors.count,
    errorSamples: errors.samples,
    overload,
    unfinished: outstanding,
    achievedRate: Math.round(completedMeasured / Math.max(windowS, 1e-3)),
    latencyUs: summarize(latencies),
    sendLagUs: summarize(lags),
    cpu: cpuStart ? cpuBetween(cpuStart, cpuEnd) : {},
    window: epochWindow(firstDue, Math.max(scheduleEnd, lastDone)),
  };
}

/** The measured window in epoch ms (to match records of other processes, e.g. GC pauses). */
function epochWindow(from, to) {
  const origin = performance.timeOrigin;
  return { fromMs: Math.round(origin + from), toMs: Math.round(origin + to) };
}

/** One JSON line per call: [index, due (epoch ms), send lag (ms), latency (ms)]. */
function writeTrace(job, phase, sessions, rows) {
  const dir = process.env.BENCH_TRACE_DIR;
  mkdirSync(dir, { recursive: true });
  const target = job.token ? 'mcpgate' : 'direct';
  const file = join(dir, `${target}-s${sessions}-${phase.name}-${Date.now()}.jsonl`);
  const origin = performance.timeOrigin;
  const r = (v) => Math.round(v * 1000) / 1000;
  writeFileSync(
    file,
    rows.map(([i, due, lag, lat]) => `[${i},${r(origin + due)},${r(lag)},${r(lat)}]`).join('\n'),
  );
}

async function closedLoop(job, clients, call, phase) {
  const start = performance.now();
  const measureFrom = start + (phase.warmupS ?? 0) * 1000;
  const end = measureFrom + phase.durationS * 1000;
  const latencies = [];
  const errors = new Errors();
  let completedInWindow = 0;
  let calls = 0;
  let cpuStart;
  let cpuEnd;
  const t1 = setTimeout(() => (cpuStart = cpuSnapshot(job.watch)), measureFrom - start);
  const t2 = setTimeout(() => (cpuEnd = cpuSnapshot(job.watch)), end - start);
  const worker = async (w) => {
    const client = clients[w % clients.length];
    while (performance.now() < end && calls < MAX_CALLS_PER_PHASE) {
      calls++;
      const s = performance.now();
      try {
        await call(client);
        const e = performance.now();
        if (e >= measureFrom && e <= end) completedInWindow++;
        if (s >= measureFrom && e <= end) latencies.push((e - s) * 1000);
      } catch (err) {
        if (s >= measureFrom) errors.add(String(err?.message ?? err));
        // A failing target must not turn this into a busy loop.
        await sleep(1);
      }
    }
  };
  await Promise.all(Array.from({ length: phase.concurrency }, (_, w) => worker(w)));
  clearTimeout(t1);
  clearTimeout(t2);
  cpuEnd ??= cpuSnapshot(job.watch);
  return {
    name: phase.name,
    mode: 'closed',
    concurrency: phase.concurrency,
    sessions: clients.length,
    durationS: phase.durationS,
    completed: completedInWindow,
    errors: errors.count,
    errorSamples: errors.samples,
    throughput: Math.round(completedInWindow / phase.durationS),
    latencyUs: summarize(latencies),
    cpu: cpuStart ? cpuBetween(cpuStart, cpuEnd) : {},
    window: epochWindow(measureFrom, end),
  };
}

async function closeAll(clients) {
  await mapLimit(clients.length, 16, async (i) => {
    const client = clients[i];
    if (client instanceof LeanMcpClient) {
      await withTimeout(client.close(), 5000, 'DELETE').catch(() => undefined);
      return;
    }
    try {
      await withTimeout(client.transport.terminateSession(), 5000, 'terminate');
    } catch {
      // the session may already be gone
    }
    await client.close().catch(() => undefined);
  });
}

async function runCalls(job) {
  const { clients, connectMs } = await connectAll(job);
  const call = makeCall(job);
  const warmed = await warm(clients, call, job.warmCalls ?? 0);
  const phases = [];
  for (const phase of job.phases) {
    phases.push(
      phase.mode === 'open'
        ? await openLoop(job, clients, call, phase)
        : await closedLoop(job, clients, call, phase),
    );
  }
  await closeAll(clients);
  return {
    mode: 'calls',
    client: job.client ?? 'lean',
    sessions: clients.length,
    connectMs,
    warm: warmed,
    phases,
  };
}

/** Opens `count` sessions with raw initialize POSTs and leaves them open (idle). */
async function openSessions(job) {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'mcpgate-bench', version: '1.0.0' },
    },
  });
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(job.token ? { authorization: `Bearer ${job.token}` } : {}),
  };
  const errors = new Errors();
  const deadline = performance.now() + (job.deadlineS ?? 300) * 1000;
  let opened = 0;
  const started = performance.now();
  await mapLimit(job.count, job.concurrency ?? 16, async () => {
    if (performance.now() > deadline) {
      errors.add('deadline passed');
      return;
    }
    try {
      const res = await globalThis.fetch(job.url, { method: 'POST', headers, body });
      const text = await res.text();
      if (res.status === 200 && res.headers.get('mcp-session-id')) opened++;
      else errors.add(`HTTP ${res.status} ${text.slice(0, 160)}`);
    } catch (err) {
      errors.add(String(err?.message ?? err));
    }
  });
  return {
    mode: 'open-sessions',
    requested: job.count,
    opened,
    errors: errors.count,
    errorSamples: errors.samples,
    ms: Math.round(performance.now() - started),
  };
}

/**
 * Opens `count` sessions with the lean client, makes each call `firstTool` (whose result
 * carries a finding the gateway labels the session with), then, once every session has,
 * makes each call `tool` once (its sketch of the first result is stored by then), and
 * leaves them open and idle (no DELETE).
 */
async function labelledSessions(job) {
  agent ??= makeAgent(job.maxSockets ?? 64);
  const errors = new Errors();
  const deadline = performance.now() + (job.deadlineS ?? 300) * 1000;
  const second = makeCall(job);
  const started = performance.now();
  const clients = await mapLimit(job.count, job.concurrency ?? 16, async () => {
    if (performance.now() > deadline) return errors.add('deadline passed');
    try {
      const client = new LeanMcpClient(job.url, {
        token: job.token,
        agent,
        timeoutMs: job.callTimeoutMs ?? 10_000,
      });
      await client.connect();
      await client.callTool(job.firstTool, job.firstArgs ?? {});
      return client;
    } catch (err) {
      errors.add(String(err?.message ?? err));
      return undefined;
    }
  });
  const labelled = clients.filter((c) => c !== undefined);
  const done = await mapLimit(labelled.length, job.concurrency ?? 16, async (i) => {
    try {
      await second(labelled[i]);
      return true;
    } catch (err) {
      errors.add(String(err?.message ?? err));
      return false;
    }
  });
  return {
    mode: 'labelled-sessions',
    requested: job.count,
    opened: done.filter(Boolean).length,
    errors: errors.count,
    errorSamples: errors.samples,
    ms: Math.round(performance.now() - started),
  };
}

const MODES = { 'open-sessions': openSessions, 'labelled-sessions': labelledSessions };
const job = JSON.parse(process.argv[2] ?? '{}');
const run = MODES[job.mode] ?? runCalls;
run(job).then(
  (result) => {
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`loadgen failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
