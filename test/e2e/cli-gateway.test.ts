// The CLI commands that talk to a running gateway, run as a user runs them: whatever the
// gateway refuses, the command prints the gateway's own reason (never a bare status), and
// a gateway that is not there is named as such; `mcpgate doctor` says what the gateway makes
// of a token without opening a session.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { refusalText } from '../../src/cli/gateway-answer.js';
import { idleText } from '../../src/cli/sessions-command.js';
import { connectClient } from './support/client.js';
import { runCli, type CliResult } from './support/cli.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { freePort } from './support/ports.js';

/** No admin token from the caller's environment: each test passes its own. */
function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { ...process.env, MCPGATE_ADMIN_TOKEN: '' } });
}

let issuer: TestIssuer;
let gateway: GatewayProcess;
let adminToken: string;

beforeAll(async () => {
  issuer = await startIssuer();
  gateway = await startGatewayProcess({ issuer });
  adminToken = await issuer.mint({ aud: gateway.mcpUrl, sub: 'ops', roles: ['mcpgate.admin'] });
});

afterAll(async () => {
  await gateway.stop();
  await issuer.close();
});

describe('mcpgate sessions shows the gateway reason', () => {
  it('401: a token that is not a JWT', async () => {
    const result = await cli(['sessions', 'list', '--url', gateway.url, '--token', 'garbage']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'gateway answered 401: invalid token: token is not a well-formed JWT\n',
    );
  });

  it('401: a token for another audience', async () => {
    const token = await issuer.mint({ aud: 'https://elsewhere.example/mcp', roles: ['x'] });
    const result = await cli(['sessions', 'list', '--url', gateway.url, '--token', token]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^gateway answered 401: invalid token: .*audience/);
  });

  it('403: the policy refuses a user without the admin role, with its reason and decision id', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, sub: 'bob' });
    const result = await cli(['sessions', 'show', 'abc', '--url', gateway.url, '--token', token]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^gateway answered 403 forbidden: sessions admin needs the mcpgate.admin role \(decision [0-9a-f-]{36}\)\n$/,
    );
  });

  it('404: no such session', async () => {
    const result = await cli([
      'sessions',
      'kill',
      'no-such-session',
      '--url',
      gateway.url,
      '--token',
      adminToken,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('gateway answered 404 not_found: no session no-such-session\n');
  });

  it('says when nothing listens at the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await cli(['sessions', 'list', '--url', url, '--token', adminToken]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `cannot reach the gateway at ${url}: nothing listens there (ECONNREFUSED); is it running, and is the URL right?\n`,
    );
  });
});

describe('mcpgate sessions list: idle time, and sessions clients end themselves', () => {
  it('shows how long each session has been idle, and a DELETE from its client ends it', async () => {
    const client = await connectClient(
      gateway.mcpUrl,
      await issuer.mint({ aud: gateway.mcpUrl, sub: 'idler', groups: ['engineering'] }),
    );
    const transport = client.transport as StreamableHTTPClientTransport;
    const sessionId = transport.sessionId ?? '';
    await client.listTools();
    await new Promise((r) => setTimeout(r, 2100));
    const args = ['sessions', 'list', '--url', gateway.url, '--token', adminToken];
    const json = JSON.parse((await cli([...args, '--json'])).stdout) as {
      sessions: Array<{ id: string; idle_s: number; last_used_at: string }>;
    };
    const mine = json.sessions.find((s) => s.id === sessionId);
    expect(mine?.idle_s).toBeGreaterThanOrEqual(2);
    expect(mine?.idle_s).toBeLessThan(30);
    expect(Date.now() - Date.parse(mine?.last_used_at ?? '')).toBeGreaterThanOrEqual(2000);
    const text = await cli(args);
    expect(text.stdout).toMatch(
      new RegExp(`^${sessionId}  \\S+  code-review  since \\S+  idle \\d+s  until \\S+$`, 'm'),
    );
    // What the README tells clients: end the session with DELETE /mcp (the SDK's
    // terminateSession sends it); it is gone from the listing at once.
    await transport.terminateSession();
    await client.close();
    const after = JSON.parse((await cli([...args, '--json'])).stdout) as {
      sessions: Array<{ id: string }>;
    };
    expect(after.sessions.map((s) => s.id)).not.toContain(sessionId);
  });

  it('writes idle times as a person reads them', () => {
    expect([0, 59, 60, 245, 3599, 3600, 7380].map(idleText)).toEqual([
      '0s',
      '59s',
      '1m00s',
      '4m05s',
      '59m59s',
      '1h00m',
      '2h03m',
    ]);
  });
});

describe('mcpgate doctor', () => {
  async function sessionCount(): Promise<number> {
    const list = await cli([
      'sessions',
      'list',
      '--url',
      gateway.url,
      '--token',
      adminToken,
      '--json',
    ]);
    return (JSON.parse(list.stdout) as { sessions: unknown[] }).sessions.length;
  }

  it('shows the 401 reason an MCP client hides', async () => {
    const result = await cli(['doctor', '--url', gateway.url, '--token', 'garbage']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'token: refused: gateway answered 401: invalid token: token is not a well-formed JWT\n',
    );
    const other = await issuer.mint({ aud: 'https://elsewhere.example/mcp' });
    const wrong = await cli(['doctor', '--url', gateway.url, '--token', other]);
    expect(wrong.stderr).toMatch(
      /^token: refused: gateway answered 401: invalid token: .*audience/,
    );
  });

  it('shows the identity and the purposes a token may open, opening no session', async () => {
    const before = await sessionCount();
    const token = await issuer.mint({ aud: gateway.mcpUrl, sub: 'carol', groups: ['engineering'] });
    const ok = await cli(['doctor', '--url', gateway.url, '--token', token]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('token: accepted\n');
    expect(ok.stdout).toContain('  subject   carol (user token, client e2e-agent)\n');
    expect(ok.stdout).toContain('  groups    engineering\n');
    expect(ok.stdout).toMatch(
      / {2}code-review {2}may open \(sessions last 3600 s\): allowed by purpose code-review\n/,
    );
    expect(ok.stdout).toContain('(code-review is from sessions.default_purpose');

    const asked = await cli([
      'doctor',
      '--url',
      gateway.url,
      '--token',
      token,
      '--purpose',
      'code-review,incident-response,echo-dmeo',
      '--json',
    ]);
    expect(asked.code).toBe(1);
    const answer = JSON.parse(asked.stdout) as {
      identity: { subject: string; groups: string[] };
      purposes: Array<{ purpose: string; allow: boolean; reasons: string[] }>;
    };
    expect(answer.identity).toMatchObject({ subject: 'carol', groups: ['engineering'] });
    expect(answer.purposes.map((p) => [p.purpose, p.allow, p.reasons])).toEqual([
      ['code-review', true, ['allowed by purpose code-review']],
      [
        'incident-response',
        false,
        [
          'incident-response needs membership in one of the groups (oncall, sre) or the Incident.Respond app role',
        ],
      ],
      ['echo-dmeo', false, ['no policy for purpose echo-dmeo']],
    ]);
    expect(await sessionCount()).toBe(before);
  });

  it('refuses a purpose that cannot be one, with the gateway reason', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, groups: ['engineering'] });
    const bad = await cli([
      'doctor',
      '--url',
      gateway.url,
      '--token',
      token,
      '--purpose',
      'no spaces',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'gateway answered 400 bad_request: "no spaces" is not a purpose: 1-64 characters of A-Z a-z 0-9 . _ -\n',
    );
  });

  it('says which scopes /mcp requires that a token lacks', async () => {
    const strict = await startGatewayProcess({
      issuer,
      extra: {
        auth: {
          issuers: [
            {
              profile: 'oidc',
              issuer: issuer.issuer,
              jwks_uri: issuer.jwksUri,
              allow_insecure_http: true,
            },
          ],
          required_scopes: ['mcp:tools'],
        },
      },
    });
    try {
      const token = await issuer.mint({
        aud: strict.mcpUrl,
        groups: ['engineering'],
        scope: 'openid',
      });
      const result = await cli(['doctor', '--url', strict.url, '--token', token]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(
        '  /mcp refuses it: it lacks the scope(s) mcp:tools (403 insufficient_scope)\n',
      );
    } finally {
      await strict.stop();
    }
  });
});

describe('refusals in other shapes', () => {
  it('plain text from a proxy, an empty body with a challenge, an empty body without', () => {
    expect(refusalText(502, 'Bad Gateway', 'upstream connect error')).toBe(
      'gateway answered 502: upstream connect error',
    );
    expect(
      refusalText(
        401,
        'Unauthorized',
        '',
        'Bearer resource_metadata="x", error="invalid_token", error_description="token expired"',
      ),
    ).toBe('gateway answered 401: token expired');
    expect(refusalText(500, 'Internal Server Error', '')).toBe(
      'gateway answered 500: Internal Server Error',
    );
  });
});

describe('mcpgate dev-token', () => {
  it('says when the dev IdP it was told about is not running', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mcpgate-devtoken-'));
    const endpoint = `http://127.0.0.1:${await freePort()}/oauth2/aus_dev/v1/token`;
    writeFileSync(
      join(stateDir, 'dev-idp.json'),
      JSON.stringify({
        issuer: 'http://127.0.0.1:1/oauth2/aus_dev',
        profile: 'okta',
        token_endpoint: endpoint,
        audience: 'http://127.0.0.1:8080/mcp',
        minter_secret: 'x',
      }),
    );
    const result = await cli(['dev-token', '--user', 'alice', '--state-dir', stateDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `cannot reach the dev IdP at ${endpoint}: nothing listens there`,
    );
    expect(result.stderr).toContain('npm run quickstart');
  });
});
