// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per code
// area (mcpgate's own modules, each npm package, Node internals, GC, idle).
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

function location(url, root) {
  if (!url) return '';
  let path = url;
  if (url.startsWith('file://')) {
    try {
      path = fileURLToPath(url);
    } catch {
      path = url;
    }
  }
  return path.startsWith(root) ? relative(root, path) : path;
}

/** Where a function's code lives: an npm package, mcpgate's dist/src/<dir>, node, V8. */
function area(url, functionName, root) {
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    return 'V8/native';
  }
  if (url.startsWith('node:')) {
    if (url.includes('deps/undici')) return 'node: undici (fetch)';
    const mod = url.replace('node:internal/', '').replace('node:', '').split('/')[0];
    return `node: ${mod}`;
  }
  const path = location(url, root);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1];
  const own = /^dist\/src\/([^/]+)/.exec(path);
  if (own) return `mcpgate ${own[1]}/`;
  if (path.startsWith('dist/src/')) return 'mcpgate';
  return path.startsWith('wasm') ? 'policy wasm' : 'other';
}

/**
 * Self time per function (top `top`) and per area, in ms and % of the profile's
 * non-idle time, and the same time charged to the nearest caller outside Node and V8.
 */
export function summarizeProfile(file, root, top = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  // timeDeltas[i] is the time before samples[i]: charge it to that sample's node.
  const { samples = [], timeDeltas = [] } = profile;
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, timeDeltas[i] ?? 0));
  }
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The nearest frame (itself or a caller) whose code is not Node's or V8's. */
  const firstOwnFrame = (id) => {
    for (let cur = id, depth = 0; cur !== undefined && depth < 200; depth++) {
      const node = byId.get(cur);
      const url = node?.callFrame.url ?? '';
      if (url && !url.startsWith('node:')) return node;
      cur = parent.get(cur);
    }
    return undefined;
  };
  const fns = new Map();
  const areas = new Map();
  const byCaller = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const where = url ? `${location(url, root)}:${lineNumber + 1}` : '';
    const key = `${name}\u0000${where}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = area(url, name, root);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const own = url && !url.startsWith('node:') ? node : firstOwnFrame(id);
    const c = own ? area(own.callFrame.url, own.callFrame.functionName, root) : a;
    byCaller.set(c, (byCaller.get(c) ?? 0) + us);
  }
  const pct = (us) => Math.round((us / Math.max(total, 1)) * 1000) / 10;
  const ms = (us) => Math.round(us / 100) / 10;
  return {
    file,
    busyMs: ms(total),
    idleMs: ms(idle),
    functions: [...fns.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => {
        const [name, where] = key.split('\u0000');
        return { function: name, location: where, selfMs: ms(us), selfPct: pct(us) };
      }),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ area: name, selfMs: ms(us), selfPct: pct(us) })),
    // Node and V8 time charged to the nearest caller in mcpgate or a package: what asked
    // for it (jose's WebCrypto calls count as jose, the SDK's fetch as the SDK).
    areasByCaller: [...byCaller.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ area: name, ms: ms(us), pct: pct(us) })),
  };
}
