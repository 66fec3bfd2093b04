#!/usr/bin/env node
// Diagnosis: the memory store's own bytes per idle session (V8 heap after forced GCs), for
// 20,000 sessions of one call each; with 'labels', each also holds a label, a finding count
// and a one-bit sketch (stored sparse). Not the bench's figure (that is gateway RSS).
//   node --expose-gc bench/tools/session-bytes.mjs [labels]
const { MemoryStore } = await import('../../dist/src/main/index.js');
const N = 20000;
const gc = () => {
  globalThis.gc();
  globalThis.gc();
};
const store = new MemoryStore();
const labels = process.argv[2] === 'labels';
const opts = { idleMs: 3600e3, historyLimit: 20, summaryLimit: 100, rateRules: [] };
gc();
const before = process.memoryUsage();
for (let i = 0; i < N; i++) {
  const id = 'sess' + i.toString().padStart(40, '0');
  await store.create(
    {
      id,
      principal: 'iss\u0000user' + (i % 50),
      subject: 'user' + (i % 50),
      purpose: 'code-review',
      createdAt: Date.now(),
      expiresAt: null,
      protocolVersion: '2025-11-25',
      clientInfo: { name: 'mcpgate-bench', version: '1.0.0' },
      clientCapabilities: {},
    },
    3600e3,
  );
  await store.recordCall(
    id,
    {
      action: 'tools/call',
      target: 'everything.echo',
      args_digest: (i * 2654435761).toString(16).padStart(32, '0').slice(-32),
      allowed: true,
      at_ns: Date.now() * 1e6,
    },
    { ...opts, behaviour: { minute: 1, novelNgrams: 0, novelTools: 0 } },
  );
  if (labels) {
    const sk = new Uint8Array(1024);
    sk[i % 1024] = 1;
    await store.recordFindings(id, ['pii'], { pii: 1 }, { pii: sk });
  }
}
gc();
const after = process.memoryUsage();
console.log(
  labels ? 'with label+sketch' : 'plain',
  'heap+ext per session',
  (
    (after.heapUsed -
      before.heapUsed +
      (after.external - before.external) +
      (after.arrayBuffers - before.arrayBuffers) * 0) /
    N
  ).toFixed(0),
  'B; heap',
  ((after.heapUsed - before.heapUsed) / N).toFixed(0),
  'ext',
  ((after.external - before.external) / N).toFixed(0),
  'rss',
  ((after.rss - before.rss) / N).toFixed(0),
);
process.exit(0);
