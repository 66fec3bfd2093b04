// End-to-end: continuous verification (issue 19) through the real gateway process against
// real upstreams (the reference filesystem and everything servers, and a search-like
// fixture server, the open-world sink), with the shipped flow and behaviour rules. Agent
// traces are played one session each: benign sessions of the shipped purposes and of a
// `research` purpose that may search the web, and the attacks: the mission's flow (read
// internal data, then search the web with it), a prompt-injected exfiltration through the
// search tool, a secret read then an external call, a rate spike, probing after denials, a
// runaway loop. Every attack must be stopped (denied or the session ended) and no benign
// session disturbed. With MCPGATE_SCENARIO_TABLE=FILE the table of what happened is written
// there (`npm run scenarios` writes docs/continuous-verification-scenarios.md).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { callTool, connectClient, INITIALIZE, rawPost, textOf } from './support/client.js';
import {
  FIXTURE_SERVERS,
  quickstartUpstreams,
  scratchDir,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { runCli } from './support/cli.js';
import { postStateless, sendStateless, textOfResult } from './support/stateless.js';
import { buildInto, copyRego } from './support/rego-copy.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { until } from '../support/until.js';

// Made at run time from parts: nothing real-looking sits in the repository.
const GITHUB_TOKEN = `ghp_${'Qw9Er8Ty7Ui6Op5As4Df3Gh2Jk1Lz0XcVbNm'}`;
const CUSTOMERS =
  'Customer list (internal): Northwind Traders renews in March at 48000 EUR; ' +
  'Contoso Pharmaceuticals is negotiating a discount of 12 percent.';

const RESEARCH = `package mcp.purposes.research

import data.mcp.lib.findings

purpose := "research"

_tools := {"filesystem.read_text_file", "filesystem.list_directory", "search.web_search", "everything.echo"}

allow if not input.tool

allow if input.tool.id in _tools

deny contains "everything.get-env exposes the server's environment; purpose research refuses it" if {
\tinput.tool.id == "everything.get-env"
}

visible contains item.id if some item in input.catalog

redact contains id if {
\tfindings.is_result_action
\tsome id in findings.result_ids_of_type("secret")
}

# What the obligation tests ask for by name.
step_up contains {"reason": "this needs a token with scope mcp.sensitive", "scope": "mcp.sensitive"} if {
\tinput.arguments.message == "step up"
}

step_up contains {"reason": "sign in again to go on", "max_age_s": 300} if {
\tinput.arguments.message == "sign in again"
}

throttle contains {"delay_ms": 50} if input.arguments.message == "slow down"

alert contains "echo was asked to raise an alert" if input.arguments.message == "alert"
`;

type Step = [tool: string, args: Record<string, unknown>];

interface Outcome {
  /** What each call got: "allowed", "denied: <reasons>" or "refused: <error>" (then none follow). */
  calls: string[];
  /** 1-based first call that was not allowed; undefined when every call went through. */
  stoppedAt: number | undefined;
  /** What happened there. */
  how: string;
}

interface Scenario {
  name: string;
  purpose: string;
  attack: boolean;
  expected: string;
  steps: Step[];
}

const echo = (n: number): Step => ['everything__echo', { message: `note ${n}` }];

const SCENARIOS: Scenario[] = [
  {
    name: 'benign code-review session',
    purpose: 'code-review',
    attack: false,
    expected: 'every call allowed',
    steps: [
      ['filesystem__list_directory', { path: 'src' }],
      ['filesystem__read_text_file', { path: 'src/app.ts' }],
      echo(1),
      ['everything__get-sum', { a: 2, b: 3 }],
      echo(2),
    ],
  },
  {
    name: 'benign documentation session',
    purpose: 'documentation',
    attack: false,
    expected: 'every call allowed',
    steps: [
      ['filesystem__list_directory', { path: 'src' }],
      ['filesystem__read_text_file', { path: 'src/app.ts' }],
      ['filesystem__list_directory', { path: 'src/components' }],
    ],
  },
  {
    name: 'benign research session',
    purpose: 'research',
    attack: false,
    expected: 'every call allowed',
    steps: [
      ['search__web_search', { query: 'typescript generics tutorial' }],
      echo(1),
      ['search__web_search', { query: 'node streams backpressure' }],
      ['filesystem__read_text_file', { path: 'customers.txt' }],
      echo(2),
    ],
  },
  {
    name: 'mission flow: read internal data, then web search with it',
    purpose: 'research',
    attack: true,
    expected: 'the search is denied',
    steps: [
      ['filesystem__read_text_file', { path: 'customers.txt' }],
      ['search__web_search', { query: CUSTOMERS.slice(24, 110) }],
    ],
  },
  {
    name: 'internal data read, then an unrelated web search',
    purpose: 'research',
    attack: true,
    expected: 'the search is held for approval',
    steps: [
      ['filesystem__read_text_file', { path: 'customers.txt' }],
      ['search__web_search', { query: 'weather tomorrow' }],
    ],
  },
  {
    name: 'prompt-injected exfiltration through the search tool',
    purpose: 'research',
    attack: true,
    expected: 'the exfiltrating search is denied',
    steps: [
      ['search__web_search', { query: 'release notes 4.2' }],
      ['filesystem__read_text_file', { path: 'customers.txt' }],
      ['search__web_search', { query: CUSTOMERS }],
    ],
  },
  {
    name: 'secret read, then an external call',
    purpose: 'research',
    attack: true,
    expected: 'the external call is denied',
    steps: [
      ['filesystem__read_text_file', { path: 'deploy.env' }],
      ['search__web_search', { query: 'weather tomorrow' }],
    ],
  },
  {
    name: 'rate spike (40 calls at once)',
    purpose: 'research',
    attack: true,
    expected: 'throttled, then denied',
    steps: Array.from({ length: 40 }, (_, i) => echo(i)),
  },
  {
    name: 'probing after denials',
    purpose: 'research',
    attack: true,
    expected: 'the session is ended',
    steps: [
      ...Array.from({ length: 5 }, (): Step => ['everything__get-env', {}]),
      echo(1),
      echo(2),
    ],
  },
  {
    name: 'runaway loop (the same call again and again)',
    purpose: 'research',
    attack: true,
    expected: 'denied, then the session is ended',
    steps: Array.from({ length: 12 }, (): Step => ['everything__echo', { message: 'again' }]),
  },
];

/**
 * Plays a trace in a new session, on past denials (an agent that probes goes on), until a
 * call is refused outright (the session was ended).
 */
async function play(client: Client, steps: Step[]): Promise<Outcome> {
  const calls: string[] = [];
  for (const [tool, args] of steps) {
    try {
      const result = await callTool(client, tool, args);
      calls.push(result.isError === true ? `denied: ${textOf(result).slice(0, 200)}` : 'allowed');
    } catch (err) {
      calls.push(`refused: ${(err as Error).message.slice(0, 200)}`);
      break;
    }
  }
  const stop = calls.findIndex((c) => c !== 'allowed');
  return stop < 0
    ? { calls, stoppedAt: undefined, how: 'every call allowed' }
    : { calls, stoppedAt: stop + 1, how: calls[stop] as string };
}

describe('continuous verification scenarios', () => {
  let issuer: TestIssuer;
  let gateway: GatewayProcess;
  let rego: string;
  // The alert webhook: a real HTTP server on loopback that keeps what it is sent.
  const alertsHeard: Array<{ authorization: string | undefined; body: Record<string, unknown> }> =
    [];
  const alertHook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      alertsHeard.push({
        authorization: req.headers.authorization,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
      });
      res.writeHead(204).end();
    });
  });
  const outcomes = new Map<string, Outcome>();

  beforeAll(async () => {
    issuer = await startIssuer();
    await new Promise<void>((resolve) => alertHook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(alertHook.address() as AddressInfo).port}/alerts`;
    const dir = scratchDir();
    writeFileSync(join(dir, 'demo/customers.txt'), `${CUSTOMERS}\n`);
    writeFileSync(join(dir, 'demo/deploy.env'), `GITHUB_TOKEN=${GITHUB_TOKEN}\nREGION=eu\n`);
    rego = copyRego();
    writeFileSync(join(rego, 'mcp/purposes/research.rego'), RESEARCH);
    writeFileSync(
      join(rego, 'flow/data.json'),
      JSON.stringify({
        sources: { 'filesystem.read_text_file': ['private'] },
        sinks: [],
      }),
    );
    // The behaviour rules apply to the purposes that opt in (or have a baseline).
    writeFileSync(join(rego, 'behaviour/data.json'), JSON.stringify({ purposes: ['research'] }));
    const bundle = join(mkdtempSync(join(tmpdir(), 'mcpgate-cv-')), 'bundle.tar.gz');
    buildInto(rego, bundle);
    gateway = await startGatewayProcess({
      issuer,
      dir,
      bundle,
      // A held call waits 2 s for an approver here (nobody approves in this suite).
      extra: {
        approvals: { default_timeout_s: 2, max_timeout_s: 2 },
        alerts: {
          webhooks: [{ url: hookUrl, headers: { Authorization: 'env:ALERT_HOOK_TOKEN' } }],
        },
      },
      env: { ALERT_HOOK_TOKEN: 'Bearer alert-hook-token' },
      upstreams: {
        ...quickstartUpstreams(),
        search: {
          transport: 'stdio',
          command: process.execPath,
          args: [join(FIXTURE_SERVERS, 'search-server.js')],
        },
      },
    });
    for (const scenario of SCENARIOS) {
      const token = await issuer.mint({
        aud: gateway.mcpUrl,
        sub: `agent-${outcomes.size}`,
        groups: ['engineering'],
      });
      const client = await connectClient(gateway.mcpUrl, token, {
        'Mcp-Purpose': scenario.purpose,
      });
      try {
        outcomes.set(scenario.name, await play(client, scenario.steps));
      } finally {
        await client.close();
      }
    }
    const table = process.env.MCPGATE_SCENARIO_TABLE;
    if (table !== undefined && table !== '') writeFileSync(table, markdownTable(outcomes));
  }, 120_000);

  afterAll(async () => {
    alertHook.close();
    await gateway?.stop();
    await issuer?.close();
  });

  it.each(SCENARIOS.filter((s) => !s.attack).map((s) => s.name))('%s is not disturbed', (name) => {
    expect(outcomes.get(name)?.how).toBe('every call allowed');
  });

  // The flow attacks: the call that stops each, and what its reason names.
  it.each([
    [
      'mission flow: read internal data, then web search with it',
      2,
      'carry text from a result labelled private',
    ],
    [
      'internal data read, then an unrelated web search',
      2,
      'no approval within 2 s (private data entered this session',
    ],
    ['prompt-injected exfiltration through the search tool', 3, 'labelled private'],
    ['secret read, then an external call', 2, 'secret data entered this session'],
  ])('%s: stopped at call %d, naming why', (name, at, fragment) => {
    const outcome = outcomes.get(name)!;
    expect(outcome.stoppedAt).toBe(at);
    expect(outcome.how).toContain(fragment);
  });

  it('a rate spike is slowed, then refused', () => {
    const outcome = outcomes.get('rate spike (40 calls at once)')!;
    // At call 31 of a minute; calls_1m weighs the minute before by how much of it is still
    // inside the last 60 s, so a spike that straddles two minutes is seen a few calls later.
    expect(outcome.stoppedAt).toBeGreaterThanOrEqual(31);
    expect(outcome.stoppedAt).toBeLessThanOrEqual(40);
    expect(outcome.how).toContain('call rate spike');
  });

  it('probing after denials ends the session', () => {
    const { calls } = outcomes.get('probing after denials')!;
    // Five refusals of the purpose, then the sixth call ends the session; the seventh finds
    // it gone.
    expect(calls.slice(0, 5).every((c) => c.startsWith('denied'))).toBe(true);
    expect(calls[5]).toContain('probing: 5 of the recent calls were denied');
    expect(calls[6]).toMatch(/^refused/);
  });

  it('step_up is answered in HTTP: 403 insufficient_scope, or 401 for a fresh sign-in', async () => {
    const token = await issuer.mint({
      aud: gateway.mcpUrl,
      sub: 'stepper',
      groups: ['engineering'],
    });
    const auth = { authorization: `Bearer ${token}`, 'mcp-purpose': 'research' };
    const opened = await rawPost(gateway.mcpUrl, INITIALIZE, auth);
    const session = {
      ...auth,
      'mcp-session-id': opened.headers.get('mcp-session-id') ?? '',
      'mcp-protocol-version': '2025-11-25',
    };
    await rawPost(
      gateway.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      session,
    );
    const call = (id: number, message: string) =>
      rawPost(
        gateway.mcpUrl,
        JSON.stringify({
          jsonrpc: '2.0',
          id,
          method: 'tools/call',
          params: { name: 'everything__echo', arguments: { message } },
        }),
        session,
      );
    const scoped = await call(2, 'step up');
    expect(scoped.status).toBe(403);
    // Both challenges name the protected resource metadata (RFC 9728), as the edge's 401s do.
    const metadata = `${gateway.url}/.well-known/oauth-protected-resource/mcp`;
    expect(scoped.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadata}", error="insufficient_scope", scope="mcp.sensitive", error_description="this needs a token with scope mcp.sensitive"`,
    );
    const served = (await (await fetch(metadata)).json()) as { resource: string };
    expect(served.resource).toBe(gateway.mcpUrl);
    const body = JSON.parse(scoped.text) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32001);
    expect(body.error.message).toContain('authenticate again (step-up)');
    const fresh = await call(3, 'sign in again');
    expect(fresh.status).toBe(401);
    expect(fresh.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadata}", error="insufficient_user_authentication", error_description="sign in again to go on", max_age="300"`,
    );
    // The session goes on: another call is answered as usual.
    const plain = await call(4, 'hello');
    expect(plain.status).toBe(200);
    expect(plain.text).toContain('hello');
  });

  it('a 2026-07-28 call gets the same step_up answer in HTTP', async () => {
    const token = await issuer.mint({
      aud: gateway.mcpUrl,
      sub: 'stateless-stepper',
      groups: ['engineering'],
    });
    const call = (message: string) =>
      sendStateless(
        gateway.mcpUrl,
        token,
        'tools/call',
        { name: 'everything__echo', arguments: { message } },
        { 'mcp-purpose': 'research' },
      );
    const scoped = await call('step up');
    expect(scoped.status).toBe(403);
    expect(scoped.body.error?.code).toBe(-32001);
    expect(scoped.body.error?.message).toContain('authenticate again (step-up)');
    const fresh = await postStateless(
      gateway.mcpUrl,
      token,
      'tools/call',
      { name: 'everything__echo', arguments: { message: 'sign in again' } },
      { 'mcp-purpose': 'research' },
    );
    expect(fresh.status).toBe(401);
    expect(fresh.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp", error="insufficient_user_authentication", error_description="sign in again to go on", max_age="300"`,
    );
    const plain = await call('hello');
    expect(plain.status).toBe(200);
    expect(textOfResult(plain.body.result)).toContain('hello');
  });

  it('throttle and alert are carried out and logged', async () => {
    const token = await issuer.mint({
      aud: gateway.mcpUrl,
      sub: 'alerter',
      groups: ['engineering'],
    });
    const client = await connectClient(gateway.mcpUrl, token, { 'Mcp-Purpose': 'research' });
    try {
      expect(
        textOf(await callTool(client, 'everything__echo', { message: 'slow down' })),
      ).toContain('slow down');
      expect(textOf(await callTool(client, 'everything__echo', { message: 'alert' }))).toContain(
        'alert',
      );
    } finally {
      await client.close();
    }
    const lines = (await gateway.auditText()).split('\n').filter((l) => l.includes('"alerter"'));
    const obligations = lines.map(
      (l) =>
        (JSON.parse(l) as { result: { obligations: Record<string, unknown> } }).result.obligations,
    );
    expect(obligations).toContainEqual(expect.objectContaining({ throttle: { delay_ms: 50 } }));
    const alert = gateway.logs.find(
      (l) => l.message === 'alert: the policy flagged a session' && l.subject === 'alerter',
    );
    // The same alert reached the webhook, with its header read from the environment.
    const raised = (a: (typeof alertsHeard)[number]): boolean =>
      JSON.stringify(a.body).includes('echo was asked to raise an alert');
    await until(() => alertsHeard.some(raised), 'the alert webhook hears the alert');
    const heard = alertsHeard.find(raised)!;
    expect(heard.authorization).toBe('Bearer alert-hook-token');
    expect(heard.body).toMatchObject({
      type: 'mcpgate.alert',
      alert: { subject: 'alerter', target: 'everything.echo', allowed: true },
    });
    expect(alert).toMatchObject({
      level: 'warn',
      reasons: ['echo was asked to raise an alert'],
      purpose: 'research',
      subject: 'alerter',
      action: 'tools/call',
      target: 'everything.echo',
      allowed: true,
    });
  });

  it('policy replay: a candidate with a lower rate limit shows the calls it would have refused', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'mcpgate-cv-log-')), 'decisions.log');
    writeFileSync(log, await gateway.auditText());
    const behaviour = join(rego, 'mcp/lib/behaviour.rego');
    writeFileSync(
      behaviour,
      readFileSync(behaviour, 'utf8').replace('refuse_per_min := 30', 'refuse_per_min := 20'),
    );
    const candidate = join(mkdtempSync(join(tmpdir(), 'mcpgate-cv-candidate-')), 'bundle.tar.gz');
    buildInto(rego, candidate);
    const replayed = await runCli([
      'policy',
      'replay',
      '--log',
      log,
      '--bundle',
      candidate,
      '--json',
    ]);
    expect(replayed.code).toBe(0);
    const report = JSON.parse(replayed.stdout) as {
      changed: Array<{ before: { allow: boolean }; after: { allow: boolean; reasons: string[] } }>;
    };
    // The spike's calls past 20, allowed when they were made: found from the facts in the log
    // (calls_1m is a sliding estimate, so two calls may show one count).
    const nowRefused = report.changed.filter((c) => c.before.allow && !c.after.allow);
    expect(nowRefused.length).toBeGreaterThanOrEqual(9);
    for (const change of nowRefused) {
      expect(change.after.reasons[0]).toMatch(
        /^call rate spike: (2[1-9]|30) calls in the last minute \(at most 20\)/,
      );
    }
  });

  it('baseline learn: each purpose with enough sessions, from the same log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-cv-baseline-'));
    writeFileSync(join(dir, 'decisions.log'), await gateway.auditText());
    const learnt = await runCli([
      'baseline',
      'learn',
      '--log',
      join(dir, 'decisions.log'),
      '--out',
      join(dir, 'baselines.json'),
      '--min-sessions',
      '2',
    ]);
    expect(learnt.code).toBe(0);
    expect(learnt.stdout).toContain(
      'no baseline (fewer than 2 sessions): code-review (1 session), documentation (1 session)',
    );
    const { purposes } = JSON.parse(readFileSync(join(dir, 'baselines.json'), 'utf8')) as {
      purposes: Record<
        string,
        {
          sessions: number;
          tools: string[];
          ngrams: string[];
          rate_per_min: { p50: number; p99: number };
        }
      >;
    };
    expect(Object.keys(purposes)).toEqual(['research']);
    // Seven research scenarios less the probing one, which had no call allowed (and the
    // sessions of the obligation tests, when they ran first).
    expect(purposes.research?.sessions).toBeGreaterThanOrEqual(6);
    expect(purposes.research?.tools).toEqual([
      'everything.echo',
      'filesystem.read_text_file',
      'search.web_search',
    ]);
    expect(purposes.research?.ngrams).toContain('search.web_search>everything.echo');
    // The spike's minute (or two) stand out from the others.
    expect(purposes.research?.rate_per_min.p99).toBeGreaterThanOrEqual(15);
    expect(purposes.research?.rate_per_min.p50).toBeLessThan(10);
  });

  it('a runaway loop is refused, then the session ended', () => {
    const outcome = outcomes.get('runaway loop (the same call again and again)')!;
    expect(outcome.stoppedAt).toBe(5);
    expect(outcome.how).toContain('runaway loop');
    expect(outcome.calls.at(-1)).toMatch(/^refused/);
  });
});

function markdownTable(outcomes: Map<string, Outcome>): string {
  const rows = SCENARIOS.map((s) => {
    const o = outcomes.get(s.name);
    const ended = o?.calls.at(-1)?.startsWith('refused') === true;
    const stopped =
      o?.stoppedAt === undefined
        ? 'not stopped'
        : `call ${o.stoppedAt} of ${s.steps.length}` +
          (ended ? `; session ended by call ${o.calls.length - 1}` : '');
    const verdict = s.attack === (o?.stoppedAt !== undefined) ? 'as expected' : 'NOT as expected';
    // The gateway's address changes from run to run.
    const how = (o?.how ?? '').replace(/https?:\/\/\S*/g, '<url>').replace(/\|/g, '\\|');
    return `| ${s.name} | ${s.purpose} | ${s.expected} | ${how} | ${stopped} | ${verdict} |`;
  });
  return [
    '# Continuous verification: scenario results',
    '',
    'Written by `npm run scenarios` (test/e2e/continuous-verification.test.ts): agent traces through a real gateway against real upstreams, one session each ([continuous-verification.md](continuous-verification.md#scenarios)).',
    '',
    '| Scenario | Purpose | Expected | What the gateway did | At | Verdict |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
