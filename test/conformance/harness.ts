// Runs the MCP conformance suite's server scenarios (@modelcontextprotocol/conformance, on
// the Node 22 of .tools/node22) against the fixture upstream three ways and tabulates them:
//   direct     the fixture itself (test/fixtures/servers/conformance-server.ts);
//   gateway    mcpgate fronting it as one upstream with `prefix: ""`;
//   prefixed   mcpgate fronting two upstreams (both the fixture) with their default
//              prefixes, so every tool and prompt name carries one.
// The suite cannot send headers, so it reaches the gateway through a proxy that adds the
// bearer token (test/support/bearer-proxy.ts); the gateway's public_url names that proxy.
// The gateway runs the allow-all fixture policy: this measures the protocol path, not the
// policy. Used by scripts/conformance.mjs and test/e2e/conformance.test.ts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startBearerProxy } from '../support/bearer-proxy.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { FIXTURE_SERVERS, ROOT, startGatewayProcess } from '../e2e/support/gateway.js';
import { buildFixturePolicy } from '../e2e/support/policies.js';
import {
  CONFORMANCE_EXPECTED_FAILURES,
  ISSUE_15_ITEMS,
  judge,
  type ExpectedFailure,
} from './expected-failures.js';

export const NODE22 = join(ROOT, '.tools/node22/bin/node');
export const SUITE_CLI = join(
  ROOT,
  '.tools/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js',
);
const SUITE_MANIFEST = join(ROOT, 'scripts/conformance-suite/package.json');
const SUITE_PACKAGE = '@modelcontextprotocol/conformance';

export const COLUMNS = ['direct', 'gateway', 'prefixed'] as const;
export type Column = (typeof COLUMNS)[number];

export interface Outcome {
  passed: boolean;
  /** The first failed check, `Name: message`, with ports and ids replaced by placeholders. */
  reason?: string;
}

export interface Row {
  scenario: string;
  outcomes: Partial<Record<Column, Outcome>>;
  expected?: ExpectedFailure;
}

export interface ConformanceReport {
  suite: string;
  node: string;
  date: string;
  seconds: number;
  rows: Row[];
  /** Pass directly, fail through mcpgate, and are not in the expected-failures list. */
  unexpected: string[];
  /** Listed as expected failures but pass through mcpgate (or do not fail directly). */
  stale: string[];
  /** Pass through mcpgate without a prefix and fail with prefixes: only names differ. */
  namesOnly: string[];
}

interface Check {
  name: string;
  status: string;
  errorMessage?: string;
}

/** The suite version scripts/install-conformance.sh installs. */
export function suiteVersion(): string {
  const manifest = JSON.parse(readFileSync(SUITE_MANIFEST, 'utf8')) as {
    dependencies: Record<string, string>;
  };
  return manifest.dependencies[SUITE_PACKAGE] ?? 'unknown';
}

/** Says what to run when the suite or its Node is not installed. */
export function missingTools(): string | undefined {
  for (const [path, what] of [
    [NODE22, 'Node 22'],
    [SUITE_CLI, `${SUITE_PACKAGE}`],
  ] as const) {
    if (!existsSync(path)) {
      return `${what} is not installed at ${path}: run \`bash scripts/install-conformance.sh\` (or \`bash scripts/setup.sh --clients\`)`;
    }
  }
  return undefined;
}

/** Ports, UUIDs and session ids change from run to run; the table should not. */
function normalise(message: string): string {
  const flat = message
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
}

function outcomeOf(checks: Check[]): Outcome {
  const failed = checks.find((check) => check.status === 'FAILURE');
  if (!failed)
    return { passed: checks.length > 0, ...(checks.length ? {} : { reason: 'no checks' }) };
  return { passed: false, reason: normalise(`${failed.name}: ${failed.errorMessage ?? 'failed'}`) };
}

/**
 * Runs the suite's active server scenarios against `url` and reads the checks it saved
 * (`<out>/server-<scenario>-<timestamp>/checks.json`).
 */
async function runSuite(url: string, log: (line: string) => void): Promise<Map<string, Outcome>> {
  const out = mkdtempSync(join(tmpdir(), 'mcpgate-conformance-'));
  try {
    const child = spawn(NODE22, [SUITE_CLI, 'server', '--url', url, '-o', out], {
      cwd: out,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 40) tail.shift();
      });
    }
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the conformance suite did not finish within 180 s:\n${tail.join('\n')}`));
      }, 180_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    // 0: every scenario passed; 1: some failed. Anything else is the suite itself failing.
    if (code !== 0 && code !== 1) {
      throw new Error(`the conformance suite exited with ${String(code)}:\n${tail.join('\n')}`);
    }
    // In the order the suite ran them (its list order): by the timestamp in the name.
    const saved = readdirSync(out)
      .map((dir) => ({ dir, match: /^server-(.+)-(\d{4}-\d{2}-\d{2}T[\d-]+Z)$/.exec(dir) }))
      .filter(({ match }) => match?.[1] !== undefined && match[2] !== undefined)
      .sort((a, b) => (a.match?.[2] ?? '').localeCompare(b.match?.[2] ?? ''));
    const outcomes = new Map<string, Outcome>();
    for (const { dir, match } of saved) {
      const checks = JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')) as Check[];
      outcomes.set(match?.[1] ?? dir, outcomeOf(checks));
    }
    if (outcomes.size === 0) {
      throw new Error(`the conformance suite saved no results:\n${tail.join('\n')}`);
    }
    const passed = [...outcomes.values()].filter((o) => o.passed).length;
    log(`  ${passed}/${outcomes.size} scenarios passed`);
    return outcomes;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export interface Fixture {
  url: string;
  stop(): Promise<void>;
}

/** The fixture upstream over Streamable HTTP, on a free loopback port. */
export async function startFixture(): Promise<Fixture> {
  const child = spawn(process.execPath, [join(FIXTURE_SERVERS, 'conformance-server.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fixture did not start:\n${stderr}`)), 15_000);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { listening: string }).listening);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fixture exited with ${String(code)}:\n${stderr}`));
    });
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The suite through a gateway in front of `upstreams`, reached through the bearer proxy. */
async function throughGateway(
  issuer: TestIssuer,
  bundle: string,
  upstreams: Record<string, unknown>,
  log: (line: string) => void,
): Promise<Map<string, Outcome>> {
  const proxy = await startBearerProxy();
  const gateway = await startGatewayProcess({
    issuer,
    bundle,
    upstreams,
    // Clients reach the gateway at the proxy's address: its Host and Origin are this
    // gateway's own (the suite's DNS-rebinding scenario sends both).
    gateway: { public_url: proxy.base, allowed_origins: [proxy.base] },
    // Every scenario opens a session of the one test user, and the suite does not end them.
    sessions: { max_sessions_per_principal: 1000 },
  }).catch(async (err: unknown) => {
    await proxy.close();
    throw err;
  });
  try {
    proxy.setTarget(gateway.url, await issuer.mint({ aud: `${proxy.base}/mcp` }));
    return await runSuite(`${proxy.base}/mcp`, log);
  } finally {
    await gateway.stop();
    await proxy.close();
  }
}

function evaluate(rows: Row[]): Pick<ConformanceReport, 'unexpected' | 'stale' | 'namesOnly'> {
  // Judged through mcpgate among the scenarios that pass directly: a listed scenario that
  // fails directly (or is gone from the suite) is stale too.
  const throughGateway = new Map(
    rows
      .filter((row) => row.outcomes.direct?.passed === true)
      .map((row) => [row.scenario, row.outcomes.gateway?.passed === true]),
  );
  const namesOnly = rows
    .filter(
      (row) => row.outcomes.gateway?.passed === true && row.outcomes.prefixed?.passed === false,
    )
    .map((row) => row.scenario);
  return { ...judge(throughGateway, CONFORMANCE_EXPECTED_FAILURES), namesOnly };
}

export interface RunOptions {
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export async function runConformance(options: RunOptions = {}): Promise<ConformanceReport> {
  const log = options.log ?? (() => undefined);
  const missing = missingTools();
  if (missing) throw new Error(missing);
  const started = Date.now();
  const node = await new Promise<string>((resolve, reject) => {
    const child = spawn(NODE22, ['--version'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', () => resolve(out.trim()));
  });
  const bundle = buildFixturePolicy('allow-all');
  const fixture = await startFixture();
  const issuer = await startIssuer();
  const results: Partial<Record<Column, Map<string, Outcome>>> = {};
  try {
    log(`direct: ${fixture.url}`);
    results.direct = await runSuite(fixture.url, log);
    log('through mcpgate: one upstream, prefix ""');
    results.gateway = await throughGateway(
      issuer,
      bundle,
      { fixture: { transport: 'http', url: fixture.url, prefix: '' } },
      log,
    );
    log('through mcpgate: two upstreams with their default prefixes');
    results.prefixed = await throughGateway(
      issuer,
      bundle,
      {
        'fixture-a': { transport: 'http', url: fixture.url },
        'fixture-b': { transport: 'http', url: fixture.url },
      },
      log,
    );
  } finally {
    await issuer.close();
    await fixture.stop();
  }
  const scenarios = [...new Set(COLUMNS.flatMap((column) => [...(results[column]?.keys() ?? [])]))];
  const rows: Row[] = scenarios.map((scenario) => {
    const outcomes: Row['outcomes'] = {};
    for (const column of COLUMNS) {
      const outcome = results[column]?.get(scenario);
      if (outcome) outcomes[column] = outcome;
    }
    const expected = CONFORMANCE_EXPECTED_FAILURES.find((entry) => entry.name === scenario);
    return { scenario, outcomes, ...(expected ? { expected } : {}) };
  });
  return {
    suite: `${SUITE_PACKAGE} ${suiteVersion()}`,
    node,
    date: new Date(started).toISOString().slice(0, 10),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    rows,
    ...evaluate(rows),
  };
}

// ---- The table ----

function cell(row: Row, column: Column, report: ConformanceReport): string {
  const outcome = row.outcomes[column];
  if (!outcome) return '–';
  if (outcome.passed) return 'pass';
  switch (column) {
    case 'direct':
      return '**fail**';
    case 'gateway':
      return row.expected ? `fail (expected: item ${row.expected.item})` : '**fail**';
    case 'prefixed':
      return report.namesOnly.includes(row.scenario) ? 'fail (names)' : 'fail';
  }
}

const COLUMN_NAMES: Record<Column, string> = {
  direct: 'directly',
  gateway: 'through mcpgate',
  prefixed: 'prefixed only',
};

/** Why the first column that failed failed: the expected-failure note, then the suite's check. */
function reasonOf(row: Row): string {
  const column = COLUMNS.find((c) => row.outcomes[c]?.passed === false);
  const parts: string[] = [];
  if (row.expected) parts.push(row.expected.why);
  const reason = column ? row.outcomes[column]?.reason : undefined;
  // The suite's words are text, not Markdown: an <angle> would read as an HTML tag.
  if (column && reason) {
    parts.push(`${COLUMN_NAMES[column]}: ${reason.replace(/</g, '&lt;').replace(/>/g, '&gt;')}`);
  }
  return parts.join('; ').replace(/\|/g, '\\|');
}

function count(report: ConformanceReport, column: Column): string {
  const ran = report.rows.filter((row) => row.outcomes[column]);
  return `${ran.filter((row) => row.outcomes[column]?.passed).length}/${ran.length}`;
}

/** The results as Markdown: a summary line, the table, and the expected-failures list. */
export function renderMarkdown(report: ConformanceReport): string {
  const lines = [
    `${report.suite}, active server scenarios, run ${report.date} on Node ${report.node} ` +
      `(${report.seconds} s for all three columns). Passed: directly ${count(report, 'direct')}, ` +
      `through mcpgate ${count(report, 'gateway')}, with two prefixed upstreams ${count(report, 'prefixed')}.`,
    '',
    '| Scenario | Direct | Through mcpgate | Two prefixed upstreams | Reason for a failure |',
    '| --- | --- | --- | --- | --- |',
    ...report.rows.map(
      (row) =>
        `| \`${row.scenario}\` | ${cell(row, 'direct', report)} | ${cell(row, 'gateway', report)} | ${cell(row, 'prefixed', report)} | ${reasonOf(row)} |`,
    ),
    '',
    'Expected failures through mcpgate (`test/conformance/expected-failures.ts`), by the item of issue 15 that makes them pass:',
    '',
    ...Object.entries(ISSUE_15_ITEMS).flatMap(([item, title]) => {
      const scenarios = CONFORMANCE_EXPECTED_FAILURES.filter(
        (entry) => String(entry.item) === item,
      );
      return scenarios.length === 0
        ? []
        : [
            `- item ${item} (${title}): ${scenarios.map((entry) => `\`${entry.name}\``).join(', ')}`,
          ];
    }),
  ];
  if (CONFORMANCE_EXPECTED_FAILURES.length === 0) lines.push('- none');
  if (report.unexpected.length) {
    lines.push('', `**Unexpected failures through mcpgate:** ${report.unexpected.join(', ')}`);
  }
  if (report.stale.length) {
    lines.push('', `**Listed as expected failures but passing:** ${report.stale.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export const DOCS_FILE = join(ROOT, 'docs/mcp-compatibility.md');
const BEGIN = '<!-- conformance table: written by `npm run conformance`; do not edit by hand -->';
const END = '<!-- end of conformance table -->';

/** The docs text with the section between the markers replaced by `markdown`. */
export function withTable(docs: string, markdown: string): string {
  const begin = docs.indexOf(BEGIN);
  const end = docs.indexOf(END);
  if (begin < 0 || end < begin) {
    throw new Error(`${DOCS_FILE} has no conformance table markers (${BEGIN} … ${END})`);
  }
  return `${docs.slice(0, begin + BEGIN.length)}\n\n${markdown}\n${docs.slice(end)}`;
}

/** Scenario → [direct, gateway, prefixed] cells of the table in the docs (as Prettier aligns it). */
export function tableCells(docs: string): Map<string, string[]> {
  const begin = docs.indexOf(BEGIN);
  const end = docs.indexOf(END);
  const cells = new Map<string, string[]>();
  if (begin < 0 || end < begin) return cells;
  for (const line of docs.slice(begin, end).split('\n')) {
    // | `scenario` | direct | gateway | prefixed | reason |   (a reason's own | is escaped)
    const [, name, ...rest] = line.split(/(?<!\\)\|/).map((text) => text.trim());
    const scenario = /^`([^`]+)`$/.exec(name ?? '')?.[1];
    if (scenario !== undefined) cells.set(scenario, rest.slice(0, COLUMNS.length));
  }
  return cells;
}

/** The same cells as the report gives them, to compare with the docs. */
export function reportCells(report: ConformanceReport): Map<string, string[]> {
  return new Map(
    report.rows.map((row) => [row.scenario, COLUMNS.map((column) => cell(row, column, report))]),
  );
}
