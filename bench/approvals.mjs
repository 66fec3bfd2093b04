#!/usr/bin/env node
// How fast a held call continues once an approver has decided, with the Redis store (issue
// 18: "within 10 ms"). Two RedisStore instances on one real redis-server stand for two
// replicas: B decides (the approver's click reaching the store), A hears it on the events
// channel and uses the approval (the held call's next steps before it is forwarded). Every
// iteration is timed from the start of B's decide to the end of A's use.
//
//   node bench/approvals.mjs [--iterations N]    prints p50, p90, p99, max (ms) and writes
//                                                 bench/results/approvals.json
//
// Needs `npm run build` first (`npm run bench:approvals` does it).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './lib/servers.mjs';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '500' } } });
const N = Number(values.iterations);
const { RedisStore } = await import(join(ROOT, 'dist/src/sessions/redis-store.js'));
const { approvalBinding, newApprovalId } = await import(
  join(ROOT, 'dist/src/sessions/approvals.js')
);
const { silentLogger } = await import(join(ROOT, 'dist/src/util/logger.js'));
const { startRedis } = await import(join(ROOT, 'dist/test/support/redis.js'));

const redis = await startRedis();
const target = { kind: 'url', url: redis.url };
const a = new RedisStore({ target, keyPrefix: 'bench:', logger: silentLogger });
const b = new RedisStore({ target, keyPrefix: 'bench:', logger: silentLogger });
await Promise.all([a.ready(), b.ready()]);

const waiting = new Map();
a.approvals.onSettled((id, state) => waiting.get(id)?.(state));

const samples = [];
for (let i = 0; i < N; i++) {
  const sessionId = `s-bench-${i}`;
  const principal = `https://idp\u0000user${i % 10}`;
  const binding = approvalBinding({
    sessionId,
    principal,
    toolId: 'filesystem.write_file',
    definitionHash: 'h',
    argsDigest: String(i),
  });
  const now = Date.now();
  const id = newApprovalId();
  await a.approvals.create(
    {
      id,
      sessionId,
      principal,
      subject: 'user',
      purpose: 'incident-response',
      tool: { id: 'filesystem.write_file', server: 'filesystem', name: 'write_file', exposed: 'x' },
      definitionHash: 'h',
      argsDigest: String(i),
      arguments: '{}',
      decisionId: 'd',
      reason: 'bench',
      approvers: { roles: ['mcpgate.approver'], groups: [] },
      self: false,
      createdAt: now,
      expiresAt: now + 60_000,
      binding,
      risk: { calls: 0, denied: 0, findings: [] },
    },
    { perSession: 10, perUser: 1000 },
  );
  const heard = new Promise((resolve) => waiting.set(id, resolve));
  const started = process.hrtime.bigint();
  await b.approvals.decide(id, { state: 'approved', by: 'https://idp\u0000carol', comment: '' });
  await heard;
  const used = await a.approvals.use(id, binding);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (used.kind !== 'used') throw new Error(`approval ${i} was not used: ${used.kind}`);
  waiting.delete(id);
  samples.push(ms);
}
await Promise.all([a.close(), b.close()]);
await redis.stop();

samples.sort((x, y) => x - y);
const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
const result = {
  what: 'approver decides on replica B -> replica A hears it on the events channel and uses the approval (Redis, loopback)',
  iterations: N,
  ms: {
    p50: +at(0.5).toFixed(3),
    p90: +at(0.9).toFixed(3),
    p99: +at(0.99).toFixed(3),
    max: +samples[samples.length - 1].toFixed(3),
  },
  node: process.version,
  at: new Date().toISOString(),
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/approvals.json'), `${JSON.stringify(result, null, 2)}\n`);
