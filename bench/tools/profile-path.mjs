#!/usr/bin/env node
// Diagnosis, not a result: a CPU profile of one gateway with telemetry (metrics, tracing at
// PROFILE_RATIO) on, under a closed-loop echo load. Prints the top self-time functions.
//   node bench/tools/profile-path.mjs [seconds]
import { join } from 'node:path';
import { createServer } from 'node:http';
import { setTimeout } from 'node:timers';
import { startIssuer } from '../lib/issuer.mjs';
import { runWorker, callsJobTimeout, echoCallsJob } from '../lib/jobs.mjs';
import { summarizeProfile } from '../lib/profile.mjs';
import { rssBytes } from '../lib/procs.mjs';
import { ROOT, cpuProfiles, scratch, startMcpgate, startUpstream } from '../lib/servers.mjs';

const seconds = Number(process.argv[2] ?? 8);
const prof = process.env.PROFILE !== '0';
const ratio = Number(process.env.PROFILE_RATIO ?? 0.01);
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}'));
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const issuer = await startIssuer();
const upstream = await startUpstream({ tools: 1 });
const dir = scratch();
const profDir = join(dir, 'cpuprofile');
const telemetry =
  process.env.PROFILE_TELEMETRY === '0'
    ? undefined
    : {
        metrics: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
        tracing: {
          enabled: true,
          endpoint: `http://127.0.0.1:${sink.address().port}/v1/traces`,
          allow_insecure_http: true,
          sample_ratio: ratio,
        },
      };
const gateway = await startMcpgate({
  issuer,
  dir,
  upstreams: { everything: { transport: 'http', url: upstream.url } },
  telemetry,
  // PROFILE_GUARDRAILS=off: schema checks and inspection off, as the guardrails section's off run.
  ...(process.env.PROFILE_GUARDRAILS === 'off'
    ? { guardrails: { check_argument_schemas: false, inspect: false } }
    : {}),
  nodeArgs: [
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    ...(process.env.PROFILE_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ],
});
await new Promise((r) => setTimeout(r, 1000));
const rssStart = rssBytes(gateway.pid);
const token = await issuer.mint({ audience: gateway.mcpUrl });
const job = echoCallsJob(gateway.mcpUrl, token, {
  sessions: 32,
  warmCalls: 100,
  watch: { gateway: gateway.pid },
  phases: [
    { name: 'max', mode: 'closed', concurrency: 64, durationS: seconds, warmupS: 2 },
    ...(process.env.PROFILE_RATE
      ? [
          {
            name: 'rate',
            mode: 'open',
            rate: Number(process.env.PROFILE_RATE),
            durationS: seconds,
            warmupS: 2,
          },
        ]
      : []),
  ],
});
const run = await runWorker('bench/lib/loadgen.mjs', job, { timeoutMs: callsJobTimeout(job) });
for (const p of run.phases) {
  const cpuPerCall =
    p.cpu?.gateway > 0 ? (p.cpu.gateway / 100 / (p.achievedRate ?? p.throughput)) * 1e6 : NaN;
  console.log(
    `${p.name}: ${Math.round(p.throughput ?? p.achievedRate)} calls/s, gateway CPU ${p.cpu?.gateway} %, other ${p.cpu?.other} %, ` +
      `${Math.round(cpuPerCall)} µs/call, latency µs p50 ${p.latencyUs?.p50} p99 ${p.latencyUs?.p99} p99.9 ${p.latencyUs?.p999 ?? p.latencyUs?.['p99.9']}`,
  );
}
console.log(
  `RSS start ${(rssStart / 1048576).toFixed(1)} MB, after load ${(rssBytes(gateway.pid) / 1048576).toFixed(1)} MB`,
);
await gateway.stop();
await upstream.stop();
await issuer.stop?.();
sink.close();
if (prof) {
  const files = cpuProfiles(profDir);
  const s = summarizeProfile(files[0], ROOT, Number(process.env.PROFILE_TOP ?? 40));
  console.log(JSON.stringify(s, null, 1).slice(0, 20000));
  console.log('profile file:', files[0]);
}
process.exit(0);
