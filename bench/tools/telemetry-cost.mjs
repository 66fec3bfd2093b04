#!/usr/bin/env node
// What metrics and tracing cost a tools/call, measured so that a shared, noisy machine
// disturbs it as little as possible: three gateways (telemetry off, metrics + tracing at
// 100 %, metrics + tracing at 1 %) run side by side in front of one upstream, and short
// windows of each are interleaved, round after round, so drift hits all three alike. The
// figure is the gateway's CPU time per call (its whole process, the OTLP worker thread
// included) at a fixed rate it keeps up with, which depends much less on the share of the
// core it gets than a throughput figure; optionally a closed-loop throughput window too.
// Medians over the rounds. Not part of `npm run bench` (section 7 there is the report's).
//
//   node bench/tools/telemetry-cost.mjs [--rounds 5] [--rate 300] [--seconds 4]
//        [--closed 0] [--cpu-prof DIR] [--only off,100,1] [--base DIR]
//
// --closed N   also a closed-loop window of N seconds (64 in flight) per round: calls/s
// --cpu-prof   the gateways run under `node --cpu-prof` (profiles in DIR/<config>/ when
//              they stop; summarise with bench/lib/profile.mjs)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startIssuer } from '../lib/issuer.mjs';
import { callsJobTimeout, echoCallsJob, runWorker } from '../lib/jobs.mjs';
import { summarizeProfile } from '../lib/profile.mjs';
import { pinSelf, pinning } from '../lib/procs.mjs';
import { ROOT, cpuProfiles, startMcpgate, startUpstream } from '../lib/servers.mjs';
import { startOtlpSink, telemetryOn } from '../lib/trace-sink.mjs';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    rate: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '4' },
    closed: { type: 'string', default: '0' },
    'cpu-prof': { type: 'string' },
    only: { type: 'string', default: 'off,100,1' },
    base: { type: 'string' },
  },
});
const ROUNDS = Number(flags.rounds);
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const CLOSED = Number(flags.closed);
const log = (m) =>
  process.stderr.write(`[telemetry-cost ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
pinSelf(pinning.clientCore);

const sink = await startOtlpSink();
const telemetry = (ratio) => telemetryOn(sink.endpoint, ratio);
const ALL = {
  off: { name: 'off', telemetry: undefined },
  100: { name: 'metrics + tracing 100 %', telemetry: telemetry(1) },
  1: { name: 'metrics + tracing 1 %', telemetry: telemetry(0.01) },
};
const configs = flags.only.split(',').map((k) => ALL[k]);
// --base DIR: the tracing configurations also run from another checkout (built, with its
// policy bundle), e.g. main, so a change is compared with what it changes in the same rounds.
if (flags.base) {
  for (const c of [...configs]) {
    if (c.telemetry === undefined) continue;
    configs.push({ ...c, name: `${c.name} (base)`, bin: join(flags.base, 'bin/mcpgate.js') });
  }
}

const issuer = await startIssuer();
const upstream = await startUpstream({ tools: 1 });
const gateways = [];
try {
  for (const config of configs) {
    const profDir =
      flags['cpu-prof'] && join(flags['cpu-prof'], config.name.replace(/[^a-z0-9]+/g, '-'));
    if (profDir) mkdirSync(profDir, { recursive: true });
    const gateway = await startMcpgate({
      issuer,
      upstreams: { everything: { transport: 'http', url: upstream.url } },
      telemetry: config.telemetry,
      nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      ...(config.bin ? { bin: config.bin } : {}),
    });
    gateways.push({
      config,
      gateway,
      profDir,
      token: await issuer.mint({ audience: gateway.mcpUrl }),
    });
  }
  const results = Object.fromEntries(
    configs.map((c) => [c.name, { cpuUs: [], other: [], calls: [] }]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    // Each round in another order, so no configuration always follows the same one.
    const order = gateways.map((_, i) => gateways[(i + round) % gateways.length]);
    for (const { config, gateway, token } of order) {
      const phases = [{ name: 'rate', mode: 'open', rate: RATE, durationS: SECONDS, warmupS: 1 }];
      if (CLOSED > 0) {
        phases.push({
          name: 'max',
          mode: 'closed',
          concurrency: 64,
          durationS: CLOSED,
          warmupS: 1,
        });
      }
      const job = echoCallsJob(gateway.mcpUrl, token, {
        sessions: 32,
        warmCalls: round === 0 ? 100 : 10,
        watch: { gateway: gateway.pid },
        phases,
      });
      const run = await runWorker('bench/lib/loadgen.mjs', job, {
        timeoutMs: callsJobTimeout(job),
      });
      const fixed = run.phases[0];
      const cpuUs = (fixed.cpu.gateway / 100 / fixed.achievedRate) * 1e6;
      const r = results[config.name];
      r.cpuUs.push(Math.round(cpuUs));
      r.other.push(fixed.cpu.other);
      if (CLOSED > 0) r.calls.push(run.phases[1].throughput);
      log(
        `round ${round + 1} ${config.name}: ${Math.round(cpuUs)} µs/call at ${fixed.achievedRate}/s` +
          (CLOSED > 0 ? `, ${run.phases[1].throughput} calls/s closed` : '') +
          ` (other load ${fixed.cpu.other} % of a core)`,
      );
    }
  }
  const median = (values) => {
    const s = [...values].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const off = results[ALL.off.name];
  const offCpu = off ? median(off.cpuUs) : NaN;
  const offCalls = off ? median(off.calls) : NaN;
  const summary = configs.map((c) => {
    const r = results[c.name];
    const cpu = median(r.cpuUs);
    const calls = median(r.calls);
    return {
      config: c.name,
      cpuUsPerCall: cpu,
      cpuRounds: r.cpuUs,
      cpuOfOff: Math.round((offCpu / cpu) * 1000) / 10,
      ...(CLOSED > 0
        ? {
            callsPerS: calls,
            callRounds: r.calls,
            callsOfOff: Math.round((calls / offCalls) * 1000) / 10,
          }
        : {}),
      otherLoad: r.other,
    };
  });
  console.log(
    JSON.stringify(
      { rate: RATE, seconds: SECONDS, rounds: ROUNDS, exports: sink.exports(), summary },
      null,
      2,
    ),
  );
} finally {
  for (const { gateway } of gateways) await gateway.stop();
  await upstream.stop();
  await issuer.stop?.();
  await sink.close();
}
if (flags['cpu-prof']) {
  for (const { config, profDir } of gateways) {
    const files = cpuProfiles(profDir);
    if (files.length === 0) continue;
    const s = summarizeProfile(files[0], ROOT, 25);
    console.log(`\n## ${config.name} (${files[0]})`);
    console.log(JSON.stringify(s, null, 1).slice(0, 6000));
  }
}
process.exit(0);
