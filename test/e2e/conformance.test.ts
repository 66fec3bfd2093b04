// The MCP conformance suite's server scenarios against the fixture upstream, directly and
// through mcpgate (test/conformance/harness.ts): whatever passes directly must pass through
// the gateway with one unprefixed upstream, except the scenarios listed in
// test/conformance/expected-failures.ts; a listed one that passes fails this test too, so
// the list shrinks as the gateway learns the protocol. The table in
// docs/mcp-compatibility.md must show what this run saw (`npm run conformance` rewrites it).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DOCS_FILE,
  renderMarkdown,
  reportCells,
  runConformance,
  tableCells,
  type ConformanceReport,
} from '../conformance/harness.js';
import { ROOT } from './support/gateway.js';

let report: ConformanceReport;

beforeAll(async () => {
  report = await runConformance();
  // The table of this run, for whoever reads CI's output (.ci/run prints it).
  const out = join(ROOT, '.tools/conformance-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.md'), renderMarkdown(report));
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
}, 300_000);

const failures = (column: 'direct' | 'gateway', scenarios: string[]): string[] =>
  scenarios.map((scenario) => {
    const row = report.rows.find((r) => r.scenario === scenario);
    return `${scenario}: ${row?.outcomes[column]?.reason ?? 'passes'}`;
  });

describe('the MCP conformance suite', () => {
  it('runs every active server scenario, and the fixture passes each directly', () => {
    expect(report.rows.length).toBeGreaterThanOrEqual(30);
    const failedDirectly = report.rows.filter((row) => !row.outcomes.direct?.passed);
    expect(
      failures(
        'direct',
        failedDirectly.map((row) => row.scenario),
      ),
    ).toEqual([]);
  });

  it('passes through mcpgate whatever passes directly, except the expected failures', () => {
    expect(failures('gateway', report.unexpected)).toEqual([]);
  });

  it('lists no expected failure that passes through mcpgate (delete its entry)', () => {
    expect(failures('gateway', report.stale)).toEqual([]);
  });

  it('tells prefixed names apart: every unprefixed pass that fails with prefixes fails on a name or address', () => {
    for (const scenario of report.namesOnly) {
      const reason = report.rows.find((r) => r.scenario === scenario)?.outcomes.prefixed?.reason;
      expect(reason).toMatch(/unknown (tool|prompt) "test_|unknown resource "test:\/\//);
    }
  });

  it('shows in docs/mcp-compatibility.md what this run saw (npm run conformance rewrites it)', () => {
    const docs = readFileSync(DOCS_FILE, 'utf8');
    expect(Object.fromEntries(tableCells(docs))).toEqual(Object.fromEntries(reportCells(report)));
  });
});
