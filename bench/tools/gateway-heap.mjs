#!/usr/bin/env node
// Is the gateway's RSS after load a leak? Starts mcpgate the way bench/lib/servers.mjs
// does (plus --heapsnapshot-signal=SIGUSR2) in front of the bench upstream, takes a heap
// snapshot when idle, drives the overhead section's load (sessions with full histories,
// open-loop rates, a closed loop), closes every session, and takes snapshots after it;
// prints RSS at each point and the snapshot files to compare with heap-diff.mjs.
//
//   node --experimental-websocket bench/tools/gateway-heap.mjs [--out DIR] [--client lean|sdk]
//        [--rates 100,300,1000] [--no-snapshots] [--env MALLOC_ARENA_MAX=2]
//
// With a global WebSocket (Node 22, or Node 20 with --experimental-websocket) the gateway also
// runs with --inspect on a loopback port, and each point records process.memoryUsage() (V8
// heap, external, array buffers) before and after a forced GC (HeapProfiler.collectGarbage).
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../lib/issuer.mjs';
import { callsJobTimeout, runWorker } from '../lib/jobs.mjs';
import { pinSelf, pinning } from '../lib/procs.mjs';
import { scratch, startMcpgate, startUpstream } from '../lib/servers.mjs';

const { values: flags } = parseArgs({
  options: {
    out: { type: 'string', default: scratch('mcpgate-heap-') },
    client: { type: 'string', default: 'lean' },
    rates: { type: 'string', default: '100,300,1000' },
    duration: { type: 'string', default: '10' },
    sessions: { type: 'string', default: '32' },
    'no-snapshots': { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
  },
});
const INSPECT = typeof globalThis.WebSocket === 'function';

/** A minimal Chrome DevTools Protocol session over the gateway's inspector WebSocket. */
async function inspector(url) {
  const ws = new globalThis.WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const pending = new Map();
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  };
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async memory() {
      const r = await send('Runtime.evaluate', {
        expression: 'JSON.stringify(process.memoryUsage())',
        returnByValue: true,
      });
      return JSON.parse(r.result.result.value);
    },
    gc: () => send('HeapProfiler.collectGarbage'),
    close: () => ws.close(),
  };
}
const log = (m) => process.stderr.write(`[heap ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const mb = (b) => `${(b / 1024 / 1024).toFixed(1)} MB`;

/** VmRSS, VmHWM (peak RSS) and RssAnon of a process, in bytes. */
function heapStats(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: get('VmRSS'), hwm: get('VmHWM'), anon: get('RssAnon') };
}

async function snapshot(gateway, name) {
  const before = new Set(readdirSync(gateway.dir).filter((f) => f.endsWith('.heapsnapshot')));
  process.kill(gateway.pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const files = readdirSync(gateway.dir).filter(
      (f) => f.endsWith('.heapsnapshot') && !before.has(f),
    );
    if (files.length > 0) {
      const file = join(gateway.dir, files[0]);
      // Written when its size stops changing.
      let last = -1;
      for (;;) {
        const size = statSync(file).size;
        if (size === last && size > 0) break;
        last = size;
        await sleep(1000);
      }
      const target = join(flags.out, `${name}.heapsnapshot`);
      renameSync(file, target);
      return target;
    }
  }
  throw new Error('no heap snapshot written');
}

async function main() {
  pinSelf(pinning.clientCore);
  mkdirSync(flags.out, { recursive: true });
  const issuer = await startIssuer();
  const upstream = await startUpstream({ tools: 1 });
  const gateway = await startMcpgate({
    issuer,
    dir: scratch('mcpgate-heap-gw-'),
    upstreams: { everything: { transport: 'http', url: upstream.url } },
    nodeArgs: ['--heapsnapshot-signal=SIGUSR2', ...(INSPECT ? ['--inspect=127.0.0.1:0'] : [])],
    env: Object.fromEntries(flags.env.map((kv) => kv.split('='))),
  });
  let cdp;
  if (INSPECT) {
    const line = gateway.tail.find((l) => l.startsWith('Debugger listening on '));
    if (line) cdp = await inspector(line.slice('Debugger listening on '.length).trim());
  }
  const points = [];
  const point = async (label, { gc = false } = {}) => {
    const s = heapStats(gateway.pid);
    const p = { label, ...s };
    let extra = '';
    if (cdp) {
      p.memory = await cdp.memory();
      extra = `; V8 heap used ${mb(p.memory.heapUsed)} of ${mb(p.memory.heapTotal)}, external ${mb(p.memory.external)} (array buffers ${mb(p.memory.arrayBuffers)})`;
      if (gc) {
        await cdp.gc();
        await sleep(500);
        p.afterGc = { ...heapStats(gateway.pid), memory: await cdp.memory() };
        const m = p.afterGc.memory;
        extra += `\n    after a forced GC: RSS ${mb(p.afterGc.rss)}; V8 heap used ${mb(m.heapUsed)} of ${mb(m.heapTotal)}, external ${mb(m.external)} (array buffers ${mb(m.arrayBuffers)})`;
      }
    }
    points.push(p);
    log(`${label}: RSS ${mb(s.rss)} (anon ${mb(s.anon)}, peak ${mb(s.hwm)})${extra}`);
  };
  const snapshots = !flags['no-snapshots'];
  try {
    await sleep(2000);
    await point('idle, before load', { gc: true });
    const files = [];
    if (snapshots) {
      files.push(await snapshot(gateway, '1-before'));
      await point('after snapshot 1');
    }
    const token = await issuer.mint({ audience: gateway.mcpUrl });
    const d = Number(flags.duration);
    const phases = [
      ...flags.rates.split(',').map((r) => ({
        name: `rate-${r}`,
        mode: 'open',
        rate: Number(r),
        durationS: d,
        warmupS: 2,
      })),
      { name: 'max', mode: 'closed', concurrency: 64, durationS: d, warmupS: 3 },
    ];
    const job = {
      mode: 'calls',
      client: flags.client,
      url: gateway.mcpUrl,
      token,
      tool: 'everything__echo',
      args: { text: 'hello from the mcpgate bench' },
      connectConcurrency: 8,
      callTimeoutMs: 10_000,
      maxOutstanding: 2000,
      sessions: Number(flags.sessions),
      warmCalls: 100,
      phases,
      watch: { gateway: gateway.pid },
    };
    log(
      `load: ${job.sessions} sessions, ${phases.map((p) => p.name).join(', ')} (${flags.client} client)`,
    );
    const result = await runWorker('bench/lib/loadgen.mjs', job, {
      timeoutMs: callsJobTimeout(job),
    });
    for (const p of result.phases) {
      log(
        `  ${p.name}: ${p.achievedRate ?? p.throughput} calls/s, errors ${p.errors}, overload ${p.overload ?? 0}`,
      );
    }
    await point('load done, sessions closed');
    await sleep(5000);
    await point('+5 s idle', { gc: true });
    if (snapshots) {
      files.push(await snapshot(gateway, '2-after'));
      await point('after snapshot 2');
    }
    await sleep(30_000);
    await point('+35 s idle', { gc: true });
    if (snapshots) {
      files.push(await snapshot(gateway, '3-after-35s'));
      await point('after snapshot 3');
    }
    console.log(JSON.stringify({ out: flags.out, files, points }, null, 1));
  } finally {
    cdp?.close();
    await gateway.stop();
    await upstream.stop();
    await issuer.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    log(`failed: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
