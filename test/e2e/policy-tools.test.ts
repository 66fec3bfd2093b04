// Tools for policy authors, run as users run them: `mcpgate eval` (a dry run of one call)
// and `mcpgate policy replay` (shadow evaluation of a real decision log against a candidate).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplayReport } from '../../src/cli/replay-command.js';
import { callTool, connectEngineer } from './support/client.js';
import { runCli, type CliResult } from './support/cli.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { addToCodeReview, buildInto, copyRego, DENY_ECHO } from './support/rego-copy.js';

function cli(args: string[]): Promise<CliResult> {
  return runCli(args);
}

describe('mcpgate eval', () => {
  const base = [
    'eval',
    '--purpose',
    'code-review',
    '--groups',
    'engineering',
    '--annotations',
    '{"readOnlyHint":true}',
  ];

  it('shows an allow for a hypothetical call', async () => {
    const { code, stdout } = await cli([
      ...base,
      '--tool',
      'filesystem.read_text_file',
      '--args',
      '{"path":"src/app.ts"}',
    ]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { revision: string; result: { allow: boolean } };
    expect(out.result.allow).toBe(true);
    expect(out.revision).toMatch(/^rego-/);
  });

  it('shows a deny with its reasons', async () => {
    const { stdout } = await cli([
      ...base,
      '--tool',
      'filesystem.read_text_file',
      '--args',
      '{"path":".env"}',
    ]);
    const out = JSON.parse(stdout) as { result: { allow: boolean; reasons: string[] } };
    expect(out.result.allow).toBe(false);
    expect(out.result.reasons.join(' ')).toContain('secret');
  });

  it('warns when the policy changed after the bundle was built, and answers with the old one', async () => {
    const rego = copyRego();
    const bundle = join(rego, '..', 'bundle.tar.gz');
    buildInto(rego, bundle);
    const call = [...base, '--tool', 'everything.echo', '--bundle', bundle, '--rego', rego];
    const fresh = await cli(call);
    expect(fresh.stderr).toBe('');
    // A checkout or touch changes the time, not the sources: no warning.
    const later = new Date(Date.now() + 5000);
    utimesSync(join(rego, 'mcp/purposes/code_review.rego'), later, later);
    expect((await cli(call)).stderr).toBe('');
    // An edit after the build (as when the last build failed): warned, old answer kept.
    addToCodeReview(rego, DENY_ECHO);
    utimesSync(join(rego, 'mcp/purposes/code_review.rego'), later, later);
    const stale = await cli(call);
    expect(stale.code).toBe(0);
    expect(stale.stderr).toBe(
      `mcpgate eval: warning: ${bundle} is older than the policy in ${rego} ` +
        '(mcp/purposes/code_review.rego changed after it was built), so this answer is the ' +
        "old policy's; run `mcpgate policy build` (if the last build failed, its errors say why)\n",
    );
    expect((JSON.parse(stale.stdout) as { result: { allow: boolean } }).result.allow).toBe(true);
    // Built again: current, and the new rule decides.
    buildInto(rego, bundle);
    const rebuilt = await cli(call);
    expect(rebuilt.stderr).toBe('');
    expect((JSON.parse(rebuilt.stdout) as { result: { allow: boolean } }).result.allow).toBe(false);
  });

  it('explains bad flags', async () => {
    const { code, stderr } = await cli(['eval', '--tool', 'nodot']);
    expect(code).not.toBe(0);
    expect(stderr).toContain('--tool must be a tool id, server.tool');
  });
});

describe('mcpgate policy replay', () => {
  let issuer: TestIssuer;
  let gateway: GatewayProcess;

  beforeAll(async () => {
    issuer = await startIssuer();
    gateway = await startGatewayProcess({ issuer });
    const client = await connectEngineer(gateway.mcpUrl, issuer);
    await callTool(client, 'everything__echo', { message: 'one' });
    await callTool(client, 'everything__echo', { message: 'two' });
    await callTool(client, 'filesystem__read_text_file', { path: 'src/app.ts' });
    await callTool(client, 'filesystem__read_text_file', { path: 'src/config/secrets.ts' });
    await client.listTools();
    await client.close();
    // Replay reads the file: wait until the gateway has written every decision to it.
    await gateway.auditText();
  });

  afterAll(async () => {
    await gateway?.stop();
    await issuer?.close();
  });

  /** `mcpgate policy replay` of a decision log against a bundle, with more flags. */
  function replay(log: string, bundle: string, ...flags: string[]): Promise<CliResult> {
    return cli(['policy', 'replay', '--log', log, '--bundle', bundle, ...flags]);
  }

  /** The shipped policy with one more rule in the code-review extension, built as `name`. */
  function candidateWith(rule: string, name: string): { bundle: string; revision: string } {
    const rego = copyRego();
    addToCodeReview(rego, rule);
    const bundle = join(gateway.dir, name);
    return { bundle, revision: buildInto(rego, bundle) };
  }

  /** The bundle the gateway runs: replaying its own log against it changes nothing. */
  const shipped = join(ROOT, 'wasm/bundle.tar.gz');

  it('reports exactly the decisions a candidate policy would change', async () => {
    const { bundle: candidate, revision } = candidateWith(DENY_ECHO, 'candidate.tar.gz');
    const { code, stdout } = await replay(gateway.auditFile, candidate, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as ReplayReport & { candidate_revision: string };
    expect(report.candidate_revision).toBe(revision);
    // Four calls plus the session/open decision of the session they ran in, one list, and the
    // list decision of which upstreams' instructions the session shows (at session/open).
    expect(report.lines).toBe(7);
    expect(report.decisions).toBe(5);
    expect(report.lists).toBe(2);
    expect(report.unchanged).toBe(5);
    const changed = report.changed.filter((c) => c.kind === 'decision');
    expect(changed.map((c) => c.tool)).toEqual(['everything.echo', 'everything.echo']);
    expect(changed.every((c) => c.action === 'tools/call')).toBe(true);
    expect(changed.every((c) => c.before.allow && !c.after.allow)).toBe(true);
    expect(changed[0]?.after.reasons.join(' ')).toContain('withdrawn');
  });

  it('compares lists too: the ids a candidate would show or hide', async () => {
    const { bundle: candidate } = candidateWith(
      'hidden contains "everything.echo"',
      'candidate-hides.tar.gz',
    );
    const json = await replay(gateway.auditFile, candidate, '--json');
    const report = JSON.parse(json.stdout) as ReplayReport;
    expect(report.changed).toHaveLength(1);
    const [list] = report.changed;
    expect(list).toMatchObject({
      kind: 'list',
      action: 'tools/list',
      shown: [],
      hidden: ['everything.echo'],
    });
    if (list?.kind !== 'list') throw new Error('expected a list change');
    expect(list.before.visible).toContain('everything.echo');
    expect(list.after.visible).not.toContain('everything.echo');
    expect(list.after.visible).toHaveLength(list.before.visible.length - 1);
    const text = await replay(gateway.auditFile, candidate);
    expect(text.stdout).toMatch(
      /CHANGED \S+ tools\/list \(alice, code-review\): would show \d+ ids instead of \d+\n {4}-everything\.echo\n/,
    );
  });

  it('counts every line of the log once: replayed, masked, of another path or unreadable', async () => {
    const log = join(gateway.dir, 'with-extras.log');
    const logged = readFileSync(gateway.auditFile, 'utf8');
    const first = JSON.parse(logged.split('\n')[0] ?? '{}') as Record<string, unknown>;
    writeFileSync(
      log,
      logged +
        'not a decision-log line\n' +
        JSON.stringify({ ...first, decision_id: 'masked-1', erased: ['/input/arguments'] }) +
        '\n' +
        JSON.stringify({ decision_id: 'other-1', path: 'system/log/mask', result: [] }) +
        '\n',
    );
    const json = await replay(log, shipped, '--json');
    const report = JSON.parse(json.stdout) as ReplayReport;
    // The gateway's own lines include the session/open's instruction list decision.
    expect(report).toMatchObject({
      lines: 10,
      decisions: 5,
      lists: 2,
      unchanged: 7,
      changed: [],
      skipped_masked: 1,
      other_paths: 1,
      unreadable_lines: 1,
    });
    expect(
      report.decisions +
        report.lists +
        report.skipped_masked +
        report.other_paths +
        report.unreadable_lines,
    ).toBe(report.lines);
    const text = await replay(log, shipped);
    expect(text.stdout).toMatch(
      /^replayed 7 of 10 lines against rego-[0-9a-f]{16} \(5 decisions, 2 lists\): 7 unchanged, 0 changed; not replayed: 1 masked, 1 of other paths, 1 unreadable\n$/,
    );
  });

  it('fails the build with --fail-on-change and passes against the same policy', async () => {
    const { bundle: candidate } = candidateWith(DENY_ECHO, 'candidate2.tar.gz');
    expect((await replay(gateway.auditFile, candidate, '--fail-on-change')).code).toBe(1);
    const same = await replay(gateway.auditFile, shipped, '--fail-on-change');
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('7 unchanged, 0 changed');
  });
});
