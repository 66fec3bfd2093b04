// `mcpgate tools scan` and `mcpgate tools pin`: the review side of tool trust
// (docs/tool-trust.md). Both start the configured upstreams, read their lists as the gateway
// does (fingerprint and poisoning scan once per item), and stop them again. scan reports
// what it found (a table or JSON, with an exit status for CI); pin writes the approved
// fingerprints into the pins file that ships in the policy bundle.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { reviewItems, type ReviewFinding } from '../policy/trust-review.js';
import { SEVERITIES, type Severity } from '../inspect/text/index.js';
import type { Catalog, ItemTrust } from '../upstreams/catalog.js';
import type { UpstreamStatus } from '../upstreams/registry.js';
import type { CatalogKind } from '../upstreams/trust/fingerprint.js';
import {
  NO_PINS,
  PIN_SECTIONS,
  parsePins,
  pinFacts,
  pinsDocument,
  type Pin,
  type Pins,
} from '../upstreams/trust/pins.js';
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';
import { silentLogger } from '../util/logger.js';

const CONFIG_OPTION = {
  type: 'string',
  value: 'FILE',
  default: 'mcpgate.yaml',
  help: 'the gateway configuration whose upstreams are read',
} as const;

const PINS_OPTION = {
  type: 'string',
  value: 'FILE',
  default: 'rego/pins/data.json',
  help: 'the pins file of the policy (shipped in the bundle at data.pins)',
} as const;

export const TOOLS_SCAN_SPEC = {
  name: 'tools scan',
  summary: "scan the upstreams' tools for poisoning and for drift from their pins",
  options: {
    config: CONFIG_OPTION,
    pins: PINS_OPTION,
    json: { type: 'boolean', default: false, help: 'print the report as JSON' },
    'fail-on': {
      type: 'string',
      value: 'SEVERITY',
      default: 'high',
      help: 'exit 1 when a finding is at least this severe: high, medium, low, or none',
    },
  },
  details: [
    'Starts every configured upstream, reads its lists as the gateway does, and stops it again. Each finding is shown with its severity, the item, the detector, the field and an excerpt (invisible characters escaped, hidden text decoded). Each item is compared with its pin in the pins file: pinned, pending (no pin) or changed (the fields that differ).',
    'Exit status: 0 nothing at or above --fail-on and no changed pin; 1 findings, changed pins, items left out or upstreams that could not be read; 2 usage error.',
  ],
  example: ['mcpgate tools scan --config mcpgate.yaml --fail-on high'],
} as const satisfies CommandSpec;

export const TOOLS_PIN_SPEC = {
  name: 'tools pin',
  summary: "approve the upstreams' live tool definitions: write their pins",
  args: [
    {
      name: 'ID...',
      help: 'the items to pin (filesystem.read_file, everything.simple-prompt, server:uri); none pins every item',
      variadic: true,
    },
  ],
  options: {
    config: CONFIG_OPTION,
    pins: PINS_OPTION,
    acknowledge: {
      type: 'boolean',
      default: false,
      help: "accept the named items' current findings (needs IDs): their high-severity findings no longer quarantine this definition",
    },
    prune: {
      type: 'boolean',
      default: false,
      help: 'remove the pins of items no upstream lists any more',
    },
    'dry-run': {
      type: 'boolean',
      default: false,
      help: 'print what would change and write nothing',
    },
  },
  details: [
    'Starts every configured upstream, reads its lists, and writes the fingerprint of each chosen item into the pins file (sorted, so a review sees a small diff). Approving a definition is then a change to the policy: review it, build and sign the bundle (mcpgate policy build), and deploy it; the decision log names the bundle revision, so it shows which approvals were in force.',
    'A re-pinned item whose definition changed loses its acknowledgements: acknowledge again after reviewing the new text. Exit status: 0 written (or nothing to change), 1 an ID is not in the catalog or an upstream could not be read, 2 usage error.',
  ],
  example: [
    'mcpgate tools pin --config mcpgate.yaml',
    'mcpgate tools pin filesystem.read_text_file --acknowledge',
  ],
} as const satisfies CommandSpec;

/** The live catalog of a configuration, read once. */
interface LiveCatalog {
  catalog: Catalog;
  statuses: UpstreamStatus[];
  /** Upstreams that could not be read, as "name: why". */
  unavailable: string[];
  leftOut: string[];
}

async function readLiveCatalog(configPath: string): Promise<LiveCatalog> {
  const config = loadConfigFile(configPath);
  // Loaded here: the upstream modules are only needed by these commands.
  const { UpstreamRegistry } = await import('../upstreams/registry.js');
  const { CredentialBroker } = await import('../credentials/broker.js');
  const registry = new UpstreamRegistry(
    config.upstreams,
    silentLogger,
    new CredentialBroker(config.gateway.id, silentLogger),
    // One read, no refresh; the registry is about connecting the gateway, not reviewing.
    { ...config.toolTrust, refreshIntervalMs: 0, registry: 'off' },
  );
  try {
    await registry.start();
    const statuses = registry.status();
    const unavailable = statuses
      .filter((s) => s.catalog_error !== undefined || (s.state !== 'ready' && s.tools === 0))
      .map((s) => `${s.name}: ${s.catalog_error ?? s.last_error ?? s.state}`);
    const leftOut = statuses.flatMap((s) => s.left_out ?? []);
    return { catalog: registry.catalog, statuses, unavailable, leftOut };
  } finally {
    await registry.close();
  }
}

function readPinsFile(path: string): Pins {
  if (!existsSync(path)) return NO_PINS;
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parsePins({ pins: document }, path);
}

const rank = (s: Severity): number => SEVERITIES.indexOf(s);

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

export async function toolsScan(argv: string[]): Promise<number> {
  const { values } = parseCommand(TOOLS_SCAN_SPEC, argv);
  const failOn = values['fail-on'];
  if (failOn !== 'none' && !(SEVERITIES as readonly string[]).includes(failOn)) {
    throw new UsageError(TOOLS_SCAN_SPEC.name, '--fail-on must be high, medium, low or none');
  }
  const pins = readPinsFile(resolve(values.pins));
  const live = await readLiveCatalog(values.config);
  const items = reviewItems(live.catalog, pins);
  const failing = (f: ReviewFinding): boolean =>
    !f.acknowledged && failOn !== 'none' && rank(f.severity) >= rank(failOn as Severity);
  const count = (s: Severity): number =>
    items.reduce((n, i) => n + i.findings.filter((f) => f.severity === s).length, 0);
  const states = { pinned: 0, pending: 0, changed: 0 };
  for (const item of items) states[item.pin.state]++;
  const failed =
    items.some((i) => i.findings.some(failing)) ||
    states.changed > 0 ||
    live.unavailable.length > 0 ||
    live.leftOut.length > 0;
  if (values.json) {
    const report = {
      items,
      left_out: live.leftOut,
      unavailable: live.unavailable,
      summary: {
        items: items.length,
        findings: { high: count('high'), medium: count('medium'), low: count('low') },
        pins: states,
      },
    };
    console.log(JSON.stringify(report, null, 2));
    return failed ? 1 : 0;
  }
  const rows = items.flatMap((i) =>
    i.findings.map((f) => [
      `${f.severity.toUpperCase()}${f.acknowledged ? ' (ack)' : ''}`,
      i.id,
      f.detector,
      f.field,
      f.excerpt,
    ]),
  );
  const severityOf = (row: string[]): number =>
    rank((row[0] ?? '').split(' ')[0]?.toLowerCase() as Severity);
  rows.sort((a, b) => severityOf(b) - severityOf(a));
  if (rows.length > 0) {
    const header = ['SEVERITY', 'ITEM', 'DETECTOR', 'FIELD', 'EXCERPT'];
    const widths = [0, 1, 2, 3].map((c) =>
      Math.min(48, Math.max(header[c]?.length ?? 0, ...rows.map((r) => r[c]?.length ?? 0))),
    );
    const line = (r: string[]): string =>
      r.map((cell, c) => (c < 4 ? pad(cell, widths[c] ?? 0) : cell)).join('  ');
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    console.log('');
  }
  for (const item of items.filter((i) => i.pin.state === 'changed')) {
    console.log(
      `CHANGED  ${item.kind} ${item.id}: differs from its pin in ${(item.pin.changed ?? []).join(', ')}`,
    );
  }
  for (const problem of live.leftOut) console.log(`LEFT OUT ${problem}`);
  for (const problem of live.unavailable) console.log(`UNAVAILABLE ${problem}`);
  console.log(
    `${items.length} items from ${live.statuses.length} upstreams: ` +
      `${count('high')} high, ${count('medium')} medium, ${count('low')} low findings; ` +
      `${states.pinned} pinned, ${states.pending} pending, ${states.changed} changed` +
      (failed ? ` (fails: --fail-on ${failOn})` : ''),
  );
  return failed ? 1 : 0;
}

/** Which section holds an item's pin, for messages. */
const sectionOf = (kind: CatalogKind): string => PIN_SECTIONS[kind];

export async function toolsPin(argv: string[]): Promise<number> {
  const parsed = parseCommand(TOOLS_PIN_SPEC, argv);
  const values = parsed.values;
  const ids = parsed.positionals;
  if (values.acknowledge && ids.length === 0) {
    throw new UsageError(
      TOOLS_PIN_SPEC.name,
      '--acknowledge needs the ids of the items you reviewed (mcpgate tools pin ID... --acknowledge)',
    );
  }
  const pinsPath = resolve(values.pins);
  const before = readPinsFile(pinsPath);
  const live = await readLiveCatalog(values.config);
  if (live.unavailable.length > 0) {
    for (const problem of live.unavailable)
      console.error(`mcpgate tools pin: cannot read ${problem}`);
    console.error('mcpgate tools pin: nothing was written; fix the upstreams and run it again');
    return 1;
  }
  const byId = new Map<string, { kind: CatalogKind; trust: ItemTrust }>();
  for (const item of live.catalog.items())
    byId.set(item.id, { kind: item.trust.kind, trust: item.trust });
  const unknown = ids.filter((id) => !byId.has(id));
  if (unknown.length > 0) {
    console.error(
      `mcpgate tools pin: not in the live catalog: ${unknown.join(', ')} (ids are server.name for tools and prompts, server:uri for resources; mcpgate tools scan lists them)`,
    );
    return 1;
  }
  const chosen = ids.length > 0 ? ids : [...byId.keys()];
  const after = {
    tool: new Map(before.tool),
    prompt: new Map(before.prompt),
    resource: new Map(before.resource),
    resource_template: new Map(before.resource_template),
  } satisfies Record<CatalogKind, Map<string, Pin>>;
  const lines: string[] = [];
  for (const id of chosen) {
    const { kind, trust } = byId.get(id) as { kind: CatalogKind; trust: ItemTrust };
    const old = before[kind].get(id);
    const high = [
      ...new Set(trust.findings.filter((f) => f.severity === 'high').map((f) => f.detector)),
    ].sort();
    const kept =
      old !== undefined && old.sha256 === trust.fingerprint.sha256 ? old.acknowledged : [];
    const acknowledged = values.acknowledge
      ? [...new Set([...kept, ...trust.findings.map((f) => f.detector)])].sort()
      : [...kept];
    const pin: Pin = {
      sha256: trust.fingerprint.sha256,
      fields: trust.fingerprint.fields,
      acknowledged,
    };
    after[kind].set(id, pin);
    const name = `${kind.replace('_', ' ')} ${id}`;
    if (old === undefined) lines.push(`pinned     ${name}`);
    else if (old.sha256 !== pin.sha256) {
      const facts = pinFacts(old, trust.fingerprint, undefined);
      lines.push(`re-pinned  ${name}: ${(facts.changed ?? []).join(', ')} changed`);
      if (old.acknowledged.length > 0 && !values.acknowledge) {
        lines.push(
          `           its acknowledgements (${old.acknowledged.join(', ')}) were for the old definition and are dropped`,
        );
      }
    } else if (acknowledged.join() !== old.acknowledged.join()) {
      lines.push(`acknowledged ${name}: ${acknowledged.join(', ')}`);
    }
    const open = high.filter((d) => !acknowledged.includes(d));
    if (open.length > 0) {
      lines.push(
        `warning:   ${name} stays quarantined: high-severity findings ${open.join(', ')}; review them (mcpgate tools scan), then: mcpgate tools pin ${id} --acknowledge`,
      );
    }
  }
  if (values.prune) {
    for (const kind of Object.keys(after) as CatalogKind[]) {
      for (const id of [...after[kind].keys()]) {
        if (!byId.has(id)) {
          after[kind].delete(id);
          lines.push(`removed    ${kind.replace('_', ' ')} ${id} (no upstream lists it)`);
        }
      }
    }
  }
  const text = `${JSON.stringify(pinsDocument(after), null, 2)}\n`;
  const unchanged = existsSync(pinsPath) && readFileSync(pinsPath, 'utf8') === text;
  for (const line of lines) console.log(line);
  if (unchanged) {
    console.log(`${pinsPath}: nothing to change (${chosen.length} items checked)`);
    return 0;
  }
  if (values['dry-run']) {
    console.log(`${pinsPath}: not written (--dry-run)`);
    return 0;
  }
  mkdirSync(dirname(pinsPath), { recursive: true });
  const partial = `${pinsPath}.partial-${process.pid}`;
  writeFileSync(partial, text);
  renameSync(partial, pinsPath);
  const total = Object.values(after).reduce((n, m) => n + m.size, 0);
  console.log(
    `${pinsPath}: ${total} pins (${Object.entries(after)
      .map(([kind, m]) => `${m.size} ${sectionOf(kind as CatalogKind)}`)
      .join(
        ', ',
      )}). Review the diff, then build and sign the policy (mcpgate policy build) and deploy it.`,
  );
  return 0;
}
