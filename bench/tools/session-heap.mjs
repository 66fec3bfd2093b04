#!/usr/bin/env node
// Diagnosis: what an idle session costs the gateway, by heap snapshot. Starts mcpgate (metrics
// and tracing at 1 % on, as the fullpath section runs it) with --heapsnapshot-signal, takes
// a snapshot with no session, opens N sessions that each call the bench upstream's
// `contact` tool (a result with an e-mail address: a pii label and a sketch) and then
// `echo`, takes a second snapshot, and prints heap-diff.mjs's comparison.
//   node bench/tools/session-heap.mjs [N=2000]
import { Buffer } from 'node:buffer';
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { startIssuer } from '../lib/issuer.mjs';
import { runWorker } from '../lib/jobs.mjs';
import { rssBytes } from '../lib/procs.mjs';
import { ROOT, scratch, startMcpgate, startUpstream } from '../lib/servers.mjs';
import { buildAllOnBundle } from '../lib/fullpath.mjs';
import { CONTACT_TEXT } from '../lib/upstream-common.mjs';

const count = Number(process.argv[2] ?? 2000);
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}'));
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const issuer = await startIssuer();
const upstream = await startUpstream({ tools: 1, env: { BENCH_CONTACT_TOOL: '1' } });
const upstreams = { everything: { transport: 'http', url: upstream.url } };
// The fullpath section's bundle: contact allowed and a pii source, so each session is labelled.
const policy = await buildAllOnBundle({ dir: scratch(), issuer, upstreams });
const gateway = await startMcpgate({
  issuer,
  upstreams,
  bundle: policy.bundle,
  sessions: { max_sessions: count + 1000, idle_timeout_s: 3600 },
  telemetry: {
    metrics: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
    tracing: {
      enabled: true,
      endpoint: `http://127.0.0.1:${sink.address().port}/v1/traces`,
      allow_insecure_http: true,
      sample_ratio: 0.01,
    },
  },
  nodeArgs: ['--heapsnapshot-signal=SIGUSR2'],
});
function endsWithBrace(file) {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(16);
    const size = statSync(file).size;
    const n = readSync(fd, buf, 0, 16, Math.max(0, size - 16));
    return buf.subarray(0, n).toString().trimEnd().endsWith('}');
  } finally {
    closeSync(fd);
  }
}
async function snapshot() {
  const before = new Set(readdirSync(gateway.dir).filter((f) => f.endsWith('.heapsnapshot')));
  process.kill(gateway.pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const found = readdirSync(gateway.dir).filter(
      (f) => f.endsWith('.heapsnapshot') && !before.has(f),
    );
    if (found.length === 1) {
      const file = join(gateway.dir, found[0]);
      // Written in one go by the gateway: wait until its size stops changing.
      let size = -1;
      while (statSync(file).size !== size || !endsWithBrace(file)) {
        size = statSync(file).size;
        await sleep(3000);
      }
      return file;
    }
  }
  throw new Error('no heap snapshot');
}
const token = await issuer.mint({ audience: gateway.mcpUrl });
await sleep(2000);
const rss0 = rssBytes(gateway.pid);
const first = await snapshot();
const opened = await runWorker('bench/lib/loadgen.mjs', {
  mode: 'labelled-sessions',
  url: gateway.mcpUrl,
  token,
  count,
  concurrency: 16,
  firstTool: 'everything__contact',
  firstArgs: { change: 'bench' },
  tool: 'everything__echo',
  args: { text: CONTACT_TEXT },
  expectText: CONTACT_TEXT,
  deadlineS: 600,
});
await sleep(3000);
const rss1 = rssBytes(gateway.pid);
const second = await snapshot();
console.log(
  `opened ${opened.opened} (errors ${opened.errors}); RSS ${(rss0 / 1048576).toFixed(1)} -> ${(rss1 / 1048576).toFixed(1)} MB = ${((rss1 - rss0) / opened.opened / 1024).toFixed(1)} KB per session`,
);
spawnSync(
  process.execPath,
  [join(ROOT, 'bench/tools/heap-diff.mjs'), first, second, '--top', '25', '--paths', '3'],
  { stdio: 'inherit' },
);
await gateway.stop();
await upstream.stop();
sink.close();
process.exit(0);
