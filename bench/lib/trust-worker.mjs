#!/usr/bin/env node
// Tool trust (issue 17): what it costs to load a catalog, and that a call pays nothing for
// it. In-process, with mcpgate's own modules (the package's public API):
//   load     a catalog of N tools over four servers, as the gateway reads it: every item
//            fingerprinted and scanned (assessLists), then the catalog built (names,
//            shadowing); R times per N, timed whole.
//   per call what a tools/call does for trust: one lookup of the tool's facts under the
//            pins in force (TrustFactCache, filled at the first call); and the decision with
//            the facts in the input against the same decision with them left out, so the
//            difference is everything trust adds to a call (the input's bytes and the
//            quarantine rules), with catalogs of 10 and 1,000 tools.
// The tools look like real ones: a few hundred characters of description, three described
// parameters, an output schema, annotations.
//
// Usage: node bench/lib/trust-worker.mjs '{"sizes":[100,1000],"repeats":10,...}'
// prints `RESULT <json>`.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from './servers.mjs';
import { summarize, round } from './stats.mjs';

const {
  assessLists,
  Catalog,
  TrustFactCache,
  parsePins,
  readBundleFile,
  PolicyEngine,
  buildInput,
  decide,
  hypotheticalSession,
} = await import('mcpgate');

const job = JSON.parse(process.argv[2] ?? '{}');
const SERVERS = ['files', 'tickets', 'crm', 'search'];

function tool(server, i) {
  return {
    name: `${server}_op_${i}`,
    title: `Operation ${i}`,
    description:
      `Reads record ${i} of the ${server} service and returns it with its metadata. ` +
      'Use it when you need the current state of one record; for many records use the list ' +
      'operation instead. Fails with a clear message when the record does not exist or the ' +
      'caller may not read it. Results are paginated with a cursor when they are long.',
    inputSchema: {
      type: 'object',
      properties: {
        id: { type: 'string', description: 'The record id, as the list operation returns it.' },
        fields: {
          type: 'array',
          items: { type: 'string' },
          description: 'Only these fields (all when absent).',
        },
        cursor: { type: 'string', description: 'Where the previous page ended.' },
      },
      required: ['id'],
    },
    outputSchema: {
      type: 'object',
      properties: { record: { type: 'object' }, next: { type: 'string' } },
      required: ['record'],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  };
}

/** Assesses and builds a catalog of n tools spread over the servers: the load the gateway does. */
function load(n) {
  const servers = SERVERS.map((server, s) => {
    const tools = [];
    for (let i = s; i < n; i += SERVERS.length) tools.push(tool(server, i));
    const lists = { tools, prompts: [], resources: [], templates: [] };
    return { server, prefix: `${server}__`, ...assessLists(server, lists) };
  });
  return Catalog.build(servers).catalog;
}

function time(fn) {
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}

const loadResults = [];
for (const size of job.sizes) {
  load(size); // warm the JIT
  const samples = [];
  for (let r = 0; r < job.repeats; r++) samples.push(time(() => load(size)).ms);
  loadResults.push({ tools: size, ms: summarize(samples) });
}

// Per call.
const engine = PolicyEngine.load(readBundleFile(join(ROOT, 'wasm/bundle.tar.gz')), {
  initialPages: 5,
  maxPages: 1024,
});
const perCall = [];
for (const size of [10, 1000]) {
  const catalog = load(size);
  const entry = catalog.tools.get('files__files_op_0');
  const pinsDoc = {
    tools: {
      [entry.id]: {
        sha256: entry.trust.fingerprint.sha256,
        fields: entry.trust.fingerprint.fields,
      },
    },
  };
  const pins = parsePins({ pins: pinsDoc }, 'bench');
  const cache = new TrustFactCache();
  const lookups = job.lookups;
  for (let i = 0; i < 10_000; i++) cache.facts(pins, entry.id, entry.trust);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < lookups; i++) cache.facts(pins, entry.id, entry.trust);
  const lookupNs = Number(process.hrtime.bigint() - t0) / lookups;

  const facts = cache.facts(pins, entry.id, entry.trust);
  const session = hypotheticalSession({
    id: 'bench',
    purpose: 'code-review',
    history: [],
    createdAt: Date.now(),
  });
  const request = {
    identity: {
      issuer: 'https://idp',
      subject: 'u',
      user_id: 'u',
      client_id: 'c',
      scopes: [],
      roles: [],
      groups: ['engineering'],
      groups_overage: false,
      token_type: 'user',
      amr: [],
      claims: {},
    },
    session,
    protocolVersion: undefined,
    gateway: { id: 'bench', version: '0' },
  };
  const tool = {
    server: 'files',
    name: entry.name,
    id: entry.id,
    annotations: { readOnlyHint: true },
    definition_hash: entry.definitionHash,
  };
  const withFacts = buildInput('tools/call', request, {
    tool: { ...tool, ...facts },
    arguments: { id: 'a' },
  });
  const without = buildInput('tools/call', request, { tool, arguments: { id: 'a' } });
  const decideUs = (input) => {
    for (let i = 0; i < 2000; i++) decide(engine, input);
    const samples = [];
    for (let i = 0; i < job.decisions; i++) {
      const t = process.hrtime.bigint();
      decide(engine, input);
      samples.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    return summarize(samples);
  };
  // Alternate, so drift on a shared machine hits both alike.
  const a = decideUs(without);
  const b = decideUs(withFacts);
  const a2 = decideUs(without);
  const b2 = decideUs(withFacts);
  perCall.push({
    tools: size,
    factsLookupNs: round(lookupNs),
    decideWithoutTrustUs: { p50: round((a.p50 + a2.p50) / 2), p99: round((a.p99 + a2.p99) / 2) },
    decideWithTrustUs: { p50: round((b.p50 + b2.p50) / 2), p99: round((b.p99 + b2.p99) / 2) },
    inputBytes: { without: JSON.stringify(without).length, with: JSON.stringify(withFacts).length },
  });
}

process.stdout.write(`RESULT ${JSON.stringify({ load: loadResults, perCall })}\n`);
