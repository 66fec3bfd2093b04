#!/usr/bin/env node
// Soak: a real gateway (started as users start it, the shipped policy, decisions logged to a
// file) in front of the bench upstream, under a steady open-loop load with session churn, for
// a bounded time; every 10 s it records the gateway's RSS, V8 heap, event-loop delay, active
// handles and open file descriptors, and at the end it fails when any of them grows.
//
//   node scripts/soak.mjs [--duration-s 1800] [--rate 500] [--sessions 1000] [--churn 5]
//                         [--sample-s 10] [--warmup-s D/5, at most 300] [--out FILE]
//                         [--max-rss-slope 1] [--max-handle-growth 50] [--max-lag-growth 2]
//
// Load: `sessions` sessions are opened (initialize, notifications/initialized) and kept;
// tools/call everything__echo is sent at `rate` calls/s, round-robin over them, each call due
// at a fixed time whatever happened to the earlier ones (at most 2,000 in flight; a call due
// beyond that is counted as overload, not sent). Churn: `churn` times a second an idle
// session is closed (DELETE) and a new one opened in its place. The decision log is emptied
// at every sample (as a rotation would), so the run does not fill the disk.
//
// Growth, measured on the samples after the warm-up (the gateway's caches and pools fill
// during it):
// - RSS: the slope of a least-squares line through the samples, in MiB per minute, must not
//   exceed --max-rss-slope (default 1 MiB/min: a leak of one 3.5 KB session per churned
//   session would be about 1 MiB/min at the default churn);
// - active handles and open file descriptors: they rise and fall with the calls in flight,
//   so their floor is compared: the lowest count of the last third of the samples may exceed
//   the lowest of the first third by at most --max-handle-growth (default 50);
// - event-loop delay: the median of the per-sample p99 over the last third of the samples
//   must not exceed --max-lag-growth (default 2) times that of the first third, plus 5 ms;
// - and the calls must succeed: fewer than 0.1 % errors after the warm-up, the gateway still
//   running.
// A run in which the gateway could not keep up (fewer than 97 % of the calls due after the
// warm-up answered: the machine is busy with other work) cannot judge growth, since its
// backlog grows memory and delay by design; it is INCONCLUSIVE (exit 3, or 0 with
// --allow-inconclusive, as CI runs it on shared machines), errors and exits still judged.
// The result (every sample, the fits, pass or fail with the reasons) goes to --out as JSON
// and to stdout as a table. The exit status is 0 on pass, 1 on fail, 2 on a bad argument.
import { readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startIssuer } from '../bench/lib/issuer.mjs';
import { LeanMcpClient, makeAgent } from '../bench/lib/mcp-client.mjs';
import {
  CLK_TCK,
  cpuTicks,
  machineTicks,
  pinning,
  pinSelf,
  rssBytes,
} from '../bench/lib/procs.mjs';
import { ROOT, scratch, startMcpgate, startUpstream } from '../bench/lib/servers.mjs';
import { percentile, round } from '../bench/lib/stats.mjs';

const MAX_OUTSTANDING = 2000;
const CONNECT_CONCURRENCY = 16;
const CHURN_CONCURRENCY = 8;

const { values: raw } = parseArgs({
  options: {
    'duration-s': { type: 'string', default: '1800' },
    rate: { type: 'string', default: '500' },
    sessions: { type: 'string', default: '1000' },
    churn: { type: 'string', default: '5' },
    'sample-s': { type: 'string', default: '10' },
    'warmup-s': { type: 'string' },
    out: { type: 'string' },
    'max-rss-slope': { type: 'string', default: '1' },
    'max-handle-growth': { type: 'string', default: '50' },
    'max-lag-growth': { type: 'string', default: '2' },
    'allow-inconclusive': { type: 'boolean', default: false },
  },
});

function number(name, { min, integer = false }) {
  const value = Number(raw[name]);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    process.stderr.write(
      `soak: --${name} must be a ${integer ? 'whole ' : ''}number of at least ${min}, not "${raw[name]}"\n`,
    );
    process.exit(2);
  }
  return value;
}

const durationS = number('duration-s', { min: 30 });
const settings = {
  durationS,
  rate: number('rate', { min: 1 }),
  sessions: number('sessions', { min: 1, integer: true }),
  churnPerS: number('churn', { min: 0 }),
  sampleS: number('sample-s', { min: 1 }),
  warmupS:
    raw['warmup-s'] === undefined
      ? Math.min(300, Math.round(durationS / 5))
      : number('warmup-s', { min: 0 }),
  maxRssSlope: number('max-rss-slope', { min: 0 }),
  maxHandleGrowth: number('max-handle-growth', { min: 0 }),
  maxLagGrowth: number('max-lag-growth', { min: 1 }),
};
if (settings.warmupS + 3 * settings.sampleS > durationS) {
  process.stderr.write('soak: the run must leave at least three samples after the warm-up\n');
  process.exit(2);
}

/** Least-squares slope of y over x. */
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor((sorted.length - 1) / 2)];
}

function openFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------

pinSelf(pinning.clientCore);
const dir = scratch('mcpgate-soak-');
const probeFile = join(dir, 'probe.jsonl');
const issuer = await startIssuer();
const upstream = await startUpstream();
const gateway = await startMcpgate({
  issuer,
  upstreams: { everything: { transport: 'http', url: upstream.url } },
  sessions: { max_sessions: settings.sessions + CHURN_CONCURRENCY * 4 },
  dir,
  nodeArgs: ['--import', join(ROOT, 'scripts/soak-probe.mjs')],
  env: { SOAK_PROBE_FILE: probeFile, SOAK_PROBE_INTERVAL_MS: String(settings.sampleS * 1000) },
});
const token = await issuer.mint({ audience: gateway.mcpUrl, ttlS: durationS + 3600 });
// As the bench: a bounded pool, most recently used socket first, so idle sockets are few.
const agent = makeAgent(256);

const counts = { calls: 0, errors: 0, overload: 0, opened: 0, closed: 0, churnErrors: 0 };
const errorSamples = [];
function noteError(err) {
  counts.errors++;
  const message = String(err?.message ?? err);
  if (errorSamples.length < 5 && !errorSamples.includes(message)) {
    errorSamples.push(message);
    console.log(`soak: error: ${message}`);
  }
}

async function openSession() {
  const client = new LeanMcpClient(gateway.mcpUrl, { token, agent, timeoutMs: 10_000 });
  await client.connect();
  counts.opened++;
  return { client, busy: 0, closing: false };
}

async function stopAll() {
  agent.destroy();
  await gateway.stop();
  await upstream.stop();
  await issuer.close();
}

// Interrupted: stop the gateway, upstream and issuer before going.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(1));
  });
}

let sessions;
let result;
try {
  console.log(
    `soak: ${settings.durationS} s at ${settings.rate} calls/s over ${settings.sessions} sessions, ` +
      `churn ${settings.churnPerS}/s, samples every ${settings.sampleS} s, warm-up ${settings.warmupS} s`,
  );
  // Open the sessions, a few at a time.
  sessions = new Array(settings.sessions);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECT_CONCURRENCY }, async () => {
      while (next < settings.sessions) {
        const i = next++;
        sessions[i] = await openSession();
      }
    }),
  );

  const samples = [];
  let latencies = [];
  let outstanding = 0;
  let robin = 0;
  let churning = 0;
  const t0 = performance.now();
  const end = t0 + settings.durationS * 1000;
  let due = 0;

  const fire = () => {
    const session = sessions[robin++ % sessions.length];
    if (session.closing) {
      counts.overload++;
      return;
    }
    const dueAt = t0 + (due / settings.rate) * 1000;
    outstanding++;
    session.busy++;
    session.client
      .callTool('everything__echo', { text: 'soak' })
      .then(() => {
        counts.calls++;
        latencies.push(performance.now() - dueAt);
      }, noteError)
      .finally(() => {
        outstanding--;
        session.busy--;
      });
  };

  const churnOne = async () => {
    const i = Math.floor(Math.random() * sessions.length);
    const old = sessions[i];
    if (old.closing || old.busy > 0) return;
    old.closing = true;
    churning++;
    try {
      await old.client.close();
      counts.closed++;
      sessions[i] = await openSession();
    } catch (err) {
      counts.churnErrors++;
      noteError(err);
      sessions[i] = await openSession().catch(() => old);
    } finally {
      churning--;
    }
  };

  let lastCpu = { at: performance.now(), gateway: cpuTicks(gateway.pid), machine: machineTicks() };
  /** % of one core: the gateway's CPU, and the whole machine's (both cores: up to 200). */
  const cpuSince = () => {
    const now = { at: performance.now(), gateway: cpuTicks(gateway.pid), machine: machineTicks() };
    const seconds = (now.at - lastCpu.at) / 1000;
    const pct = (a, b) =>
      a === null || b === null ? null : round(((b - a) / CLK_TCK / seconds) * 100, 0);
    const out = {
      gateway_cpu_pct: pct(lastCpu.gateway, now.gateway),
      machine_cpu_pct: pct(lastCpu.machine?.busy ?? null, now.machine?.busy ?? null),
    };
    lastCpu = now;
    return out;
  };

  const sample = () => {
    const probe = readFileSync(probeFile, 'utf8').trim().split('\n').filter(Boolean);
    const inside = probe.length > 0 ? JSON.parse(probe[probe.length - 1]) : null;
    const sorted = Float64Array.from(latencies).sort();
    latencies = [];
    let logBytes = 0;
    try {
      logBytes = statSync(gateway.auditFile).size;
      truncateSync(gateway.auditFile, 0);
    } catch {
      // not written yet
    }
    const s = {
      at_s: Math.round((performance.now() - t0) / 1000),
      rss_mib: round(rssBytes(gateway.pid) / 2 ** 20, 1),
      heap_mib: inside ? round(inside.heap_used / 2 ** 20, 1) : null,
      lag_p99_ms: inside?.lag_ms.p99 ?? null,
      lag_max_ms: inside?.lag_ms.max ?? null,
      handles: inside?.handles ?? null,
      fds: openFds(gateway.pid),
      calls: counts.calls,
      errors: counts.errors,
      overload: counts.overload,
      churned: counts.closed,
      latency_p50_ms: round(percentile(sorted, 50), 2),
      latency_p99_ms: round(percentile(sorted, 99), 2),
      decision_log_mib: round(logBytes / 2 ** 20, 1),
      ...cpuSince(),
    };
    samples.push(s);
    console.log(JSON.stringify(s));
  };

  let nextSample = t0 + settings.sampleS * 1000;
  let churnDebt = 0;
  let lastTick = t0;
  while (performance.now() < end) {
    const now = performance.now();
    if (gateway.child.exitCode !== null) throw new Error('the gateway exited during the soak');
    // Every call due by now.
    const dueNow = Math.floor(((now - t0) / 1000) * settings.rate);
    while (due < dueNow) {
      if (outstanding >= MAX_OUTSTANDING) counts.overload++;
      else fire();
      due++;
    }
    churnDebt += ((now - lastTick) / 1000) * settings.churnPerS;
    lastTick = now;
    while (churnDebt >= 1 && churning < CHURN_CONCURRENCY) {
      churnDebt--;
      void churnOne();
    }
    if (now >= nextSample) {
      // The probe writes on its own timer: give it a moment to land this period's line.
      await sleep(50);
      sample();
      nextSample += settings.sampleS * 1000;
    }
    await sleep(5);
  }
  while (outstanding > 0 || churning > 0) await sleep(20);

  // The verdict.
  const after = samples.filter((s) => s.at_s > settings.warmupS);
  const minutes = after.map((s) => s.at_s / 60);
  const fit = {
    rss_mib_per_min: round(
      slope(
        minutes,
        after.map((s) => s.rss_mib),
      ),
      3,
    ),
    heap_mib_per_min: round(
      slope(
        minutes,
        after.map((s) => s.heap_mib ?? 0),
      ),
      3,
    ),
  };
  const third = Math.max(1, Math.floor(after.length / 3));
  const floorGrowth = (key) =>
    Math.min(...after.slice(-third).map((s) => s[key] ?? 0)) -
    Math.min(...after.slice(0, third).map((s) => s[key] ?? 0));
  const floors = { handles: floorGrowth('handles'), fds: floorGrowth('fds') };
  const lagFirst = median(after.slice(0, third).map((s) => s.lag_p99_ms ?? 0));
  const lagLast = median(after.slice(-third).map((s) => s.lag_p99_ms ?? 0));
  const failures = [];
  // Errors after the warm-up only: opening every session at once is not the steady state.
  const warm = samples.filter((s) => s.at_s <= settings.warmupS).at(-1) ?? {
    at_s: 0,
    calls: 0,
    errors: 0,
  };
  // Kept up: the calls answered after the warm-up are at least 97 % of those due (a backlog
  // of calls in flight, or calls not sent at all, means the gateway got too little CPU).
  const last = samples.at(-1) ?? warm;
  const dueAfterWarmup = Math.round(settings.rate * ((last.at_s ?? 0) - (warm.at_s ?? 0)));
  const answeredAfterWarmup = last.calls - warm.calls + (last.errors - warm.errors);
  const growthFailures = [];
  if (fit.rss_mib_per_min > settings.maxRssSlope) {
    growthFailures.push(`RSS grows ${fit.rss_mib_per_min} MiB/min (limit ${settings.maxRssSlope})`);
  }
  for (const [what, growth] of Object.entries(floors)) {
    if (growth > settings.maxHandleGrowth) {
      growthFailures.push(
        `the floor of ${what} rose by ${growth} (limit ${settings.maxHandleGrowth})`,
      );
    }
  }
  if (lagLast > settings.maxLagGrowth * lagFirst + 5) {
    growthFailures.push(`event-loop delay p99 went from ${lagFirst} ms to ${lagLast} ms`);
  }
  const inconclusive =
    answeredAfterWarmup < 0.97 * dueAfterWarmup
      ? `the gateway could not keep up: ${answeredAfterWarmup} of ${dueAfterWarmup} calls due after ` +
        'the warm-up were answered (see gateway_cpu_pct and machine_cpu_pct in the samples); ' +
        'growth is not judged'
      : undefined;
  if (!inconclusive) failures.push(...growthFailures);
  const errors = counts.errors - warm.errors;
  const attempted = counts.calls - warm.calls + errors;
  if (errors > attempted / 1000) {
    failures.push(
      `${errors} of ${attempted} calls after the warm-up failed: ${errorSamples.join(' | ')}`,
    );
  }
  if (gateway.child.exitCode !== null) failures.push('the gateway exited');
  result = {
    settings,
    samples,
    fit,
    floor_growth: floors,
    lag_p99_ms: { first_third: lagFirst, last_third: lagLast },
    counts,
    calls_per_s: round(counts.calls / settings.durationS, 1),
    error_samples: errorSamples,
    passed: failures.length === 0 && !inconclusive,
    inconclusive,
    growth_not_judged: inconclusive ? growthFailures : [],
    failures,
  };
} catch (err) {
  await stopAll();
  process.stderr.write(`soak: ${err?.stack ?? err}\n`);
  process.exit(1);
}
await Promise.allSettled(sessions.map((s) => s?.client.close()));
await stopAll();
if (raw.out) writeFileSync(raw.out, `${JSON.stringify(result, null, 2)}\n`);
const verdict =
  result.failures.length > 0 ? 'FAILED' : result.inconclusive ? 'INCONCLUSIVE' : 'passed';
console.log(
  `soak: ${verdict}: ${result.counts.calls} calls ` +
    `(${result.calls_per_s}/s), ${result.counts.errors} errors, ${result.counts.overload} overload, ` +
    `${result.counts.closed} sessions churned; RSS ${result.fit.rss_mib_per_min} MiB/min, ` +
    `heap ${result.fit.heap_mib_per_min} MiB/min, floor of handles +${result.floor_growth.handles}, ` +
    `of fds +${result.floor_growth.fds}, event-loop p99 ${result.lag_p99_ms.first_third} → ` +
    `${result.lag_p99_ms.last_third} ms`,
);
for (const failure of result.failures) console.log(`soak: ${failure}`);
if (result.inconclusive) {
  console.log(`soak: ${result.inconclusive}`);
  for (const seen of result.growth_not_judged) console.log(`soak: (not judged) ${seen}`);
}
if (result.failures.length > 0) process.exit(1);
process.exit(result.inconclusive && !raw['allow-inconclusive'] ? 3 : 0);
