#!/usr/bin/env node
// Compares two V8 heap snapshots (.heapsnapshot): live objects by constructor (count and
// self size) in each, the biggest growth, and for the constructors that grew most, the
// shortest retainer path from the GC roots to a few of their instances.
//
//   node bench/tools/heap-diff.mjs BEFORE.heapsnapshot AFTER.heapsnapshot [--top 25] [--paths 5]
//        [--for Constructor ...]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    paths: { type: 'string', default: '5' },
    // Constructors to show retainer paths for, whatever their growth (repeatable).
    for: { type: 'string', multiple: true, default: [] },
  },
});
const TOP = Number(flags.top);
const PATHS = Number(flags.paths);

/** Loads a snapshot into flat arrays. */
export function load(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields;
  const ef = meta.edge_fields;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const N = nf.length;
  const E = ef.length;
  const iType = nf.indexOf('type');
  const iName = nf.indexOf('name');
  const iSize = nf.indexOf('self_size');
  const iEdges = nf.indexOf('edge_count');
  const iId = nf.indexOf('id');
  const eType = ef.indexOf('type');
  const eName = ef.indexOf('name_or_index');
  const eTo = ef.indexOf('to_node');
  const nodes = snap.nodes;
  const edges = snap.edges;
  const strings = snap.strings;
  const count = nodes.length / N;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += nodes[i * N + iEdges] * E;
    firstEdge[i + 1] = e;
  }
  const label = (i) => {
    const type = nodeTypes[nodes[i * N + iType]];
    const name = strings[nodes[i * N + iName]];
    if (type === 'object' || type === 'native' || type === 'closure')
      return `${type === 'closure' ? 'closure ' : ''}${name}`;
    return `(${type})`;
  };
  return {
    nodes,
    edges,
    strings,
    N,
    E,
    count,
    firstEdge,
    iType,
    iName,
    iSize,
    iId,
    eType,
    eName,
    eTo,
    nodeTypes,
    edgeTypes,
    label,
  };
}

function byConstructor(s) {
  const map = new Map();
  for (let i = 0; i < s.count; i++) {
    const key = s.label(i);
    const size = s.nodes[i * s.N + s.iSize];
    const v = map.get(key) ?? { count: 0, size: 0 };
    v.count++;
    v.size += size;
    map.set(key, v);
  }
  return map;
}

/** Shortest path from the root (node 0) to node `target`, via BFS over non-weak edges. */
function retainerPath(s, target) {
  const parent = new Int32Array(s.count).fill(-1);
  const via = new Int32Array(s.count).fill(-1);
  parent[0] = 0;
  const queue = new Int32Array(s.count);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const n = queue[head++];
    if (n === target) break;
    for (let e = s.firstEdge[n]; e < s.firstEdge[n + 1]; e += s.E) {
      const type = s.edgeTypes[s.edges[e + s.eType]];
      if (type === 'weak' || type === 'shortcut') continue;
      const to = s.edges[e + s.eTo] / s.N;
      if (parent[to] !== -1) continue;
      parent[to] = n;
      via[to] = e;
      queue[tail++] = to;
    }
  }
  if (parent[target] === -1) return null;
  const steps = [];
  for (let n = target; n !== 0; n = parent[n]) {
    const e = via[n];
    const type = s.edgeTypes[s.edges[e + s.eType]];
    const nameOrIndex = s.edges[e + s.eName];
    const edgeName =
      type === 'element' || type === 'hidden' ? `[${nameOrIndex}]` : s.strings[nameOrIndex];
    steps.push(`${s.label(parent[n])} --${edgeName}--> ${s.label(n)}`);
  }
  return steps.reverse();
}

function mb(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

if (positionals.length === 2) {
  const [beforeFile, afterFile] = positionals;
  const before = load(beforeFile);
  const a = byConstructor(before);
  let totalA = 0;
  for (const v of a.values()) totalA += v.size;
  const after = load(afterFile);
  const b = byConstructor(after);
  let totalB = 0;
  for (const v of b.values()) totalB += v.size;
  console.log(
    `live heap (sum of self sizes): before ${mb(totalA)}, after ${mb(totalB)}, growth ${mb(totalB - totalA)}`,
  );
  console.log(`objects: before ${before.count}, after ${after.count}`);
  const rows = [...b.entries()].map(([k, v]) => {
    const old = a.get(k) ?? { count: 0, size: 0 };
    return {
      k,
      count: v.count,
      dCount: v.count - old.count,
      size: v.size,
      dSize: v.size - old.size,
    };
  });
  rows.sort((x, y) => y.dSize - x.dSize);
  console.log(`\ntop ${TOP} growth by constructor (after - before):`);
  for (const r of rows.slice(0, TOP)) {
    console.log(
      `${String(r.dSize).padStart(12)} B  ${String(r.dCount).padStart(8)} objs  now ${mb(r.size).padStart(10)} ${String(r.count).padStart(8)}  ${r.k}`,
    );
  }
  rows.sort((x, y) => y.size - x.size);
  console.log(`\ntop ${TOP} by size in the after snapshot:`);
  for (const r of rows.slice(0, TOP)) {
    console.log(`${mb(r.size).padStart(10)} ${String(r.count).padStart(8)} objs  ${r.k}`);
  }
  const grown = [...b.entries()]
    .map(([k, v]) => ({
      k,
      d: v.count - (a.get(k)?.count ?? 0),
      dSize: v.size - (a.get(k)?.size ?? 0),
    }))
    .filter((r) => r.d > 50 && !r.k.startsWith('('))
    .sort((x, y) => y.dSize - x.dSize)
    .slice(0, PATHS);
  for (const name of flags.for) {
    grown.unshift({ k: name, d: (b.get(name)?.count ?? 0) - (a.get(name)?.count ?? 0) });
  }
  for (const g of grown) {
    const ids = [];
    for (let i = after.count - 1; i >= 0 && ids.length < 2; i--)
      if (after.label(i) === g.k) ids.push(i);
    for (const id of ids) {
      console.log(`\nretainer path of one ${g.k} (+${g.d} objects):`);
      const path = retainerPath(after, id);
      console.log(
        path ? path.map((p) => `  ${p}`).join('\n') : '  (unreachable from the roots: garbage)',
      );
    }
  }
}
