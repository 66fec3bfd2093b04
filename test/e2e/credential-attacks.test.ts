// Scoped credentials attacked through the gateway process, as in issue 13: the dev IdP
// (Okta-shaped, with an MFA step-up rule), a scope-checking upstream that decodes every
// token it gets, and token endpoints the test writes that echo the request in their errors,
// answer after the session ended, or belong to another issuer. What the client, the gateway
// log and the decision log see is checked, not only the upstream.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startDevIdp, type DevIdp } from '../../dev/idp/index.js';
import { startScopedUpstream, type ScopedUpstream } from '../fixtures/servers/scoped-upstream.js';
import {
  startLoopbackServer,
  type LoopbackServer,
  type Reply,
} from '../support/loopback-server.js';
import {
  addTokenEndpoint,
  errorReply,
  held,
  TOKEN_EXCHANGE_GRANT,
  tokenReply,
  type TokenAnswer,
  type TokenEndpoint,
} from '../support/token-endpoint.js';
import {
  callTool,
  connectSwitching,
  INITIALIZE,
  rawPost,
  textOf,
  type SwitchingClient,
} from './support/client.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy } from './support/policies.js';
import { freePort } from './support/ports.js';

const API = 'https://github.example/api';
const DAVE = 'dave@example.com';
const PR = { repo: 'acme/widgets', number: 42 };
/** The gateway's client secret at the test's token endpoints: it must never be shown. */
const ECHO_SECRET = `echo-${randomBytes(24).toString('base64url')}`;

let idp: DevIdp;
let github: ScopedUpstream;
let endpoints: LoopbackServer;
let echo: TokenEndpoint;
let foreign: TokenEndpoint;
let gateway: GatewayProcess;
/** What the test's endpoints answer the gateway's own (client credentials) requests. */
let catalogToken: string;

/** Client credentials get a token the upstream accepts; exchanges get `exchange`'s answer. */
function answering(exchange: TokenAnswer): TokenAnswer {
  return (form, raw) =>
    form.get('grant_type') === TOKEN_EXCHANGE_GRANT
      ? exchange(form, raw)
      : tokenReply(catalogToken);
}

beforeAll(async () => {
  const port = await freePort();
  const audience = `http://127.0.0.1:${port}/mcp`;
  idp = await startDevIdp({
    audience,
    issuers: [{ profile: 'okta' }],
    exchangeScopes: { [API]: ['repo:read', 'repo:comment'] },
    exchangeStepUp: [{ user: DAVE, audience: API }],
  });
  const okta = idp.issuer('okta');
  github = await startScopedUpstream({ issuer: okta.issuer, jwksUri: okta.jwksUri, audience: API });
  catalogToken = await idp.mintAppToken('okta', { audience: API });
  endpoints = await startLoopbackServer();
  echo = addTokenEndpoint(endpoints, 'echo');
  foreign = addTokenEndpoint(endpoints, 'foreign');
  echo.answer = answering(() => tokenReply('unused'));
  foreign.answer = answering(() => tokenReply('unused'));
  const exchangeAt = (issuer: string, more: Record<string, unknown> = {}) => ({
    transport: 'http',
    url: github.url,
    isolation: 'per-session',
    credential: {
      type: 'token-exchange',
      issuer,
      audience: API,
      scopes: ['repo:read'],
      allow_insecure_http: true,
      ...more,
    },
  });
  gateway = await startGatewayProcess({
    issuer: { issuer: okta.issuer, jwksUri: okta.jwksUri },
    bundle: buildFixturePolicy('credentials'),
    gateway: { port },
    env: { GATEWAY_CLIENT_SECRET: idp.gatewayClientSecret, ECHO_CLIENT_SECRET: ECHO_SECRET },
    extra: {
      auth: {
        issuers: [{ profile: 'okta', issuer: okta.issuer, allow_insecure_http: true }],
        max_token_lifetime_s: 7200,
      },
    },
    upstreams: {
      github: exchangeAt(okta.issuer, {
        client_id: idp.gatewayClientId,
        client_secret: 'env:GATEWAY_CLIENT_SECRET',
      }),
      // Trusts the dev IdP's users (a trusted issuer pair), and echoes what it is sent.
      echo: exchangeAt(echo.issuer, {
        client_id: 'gw-echo',
        client_secret: 'env:ECHO_CLIENT_SECRET',
        subject_issuers: [okta.issuer],
      }),
      // Another authorization server, which nobody configured to trust the dev IdP.
      foreign: exchangeAt(foreign.issuer, {
        client_id: 'gw-foreign',
        client_secret: 'env:ECHO_CLIENT_SECRET',
      }),
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await github?.close();
  await endpoints?.close();
  await idp?.stop();
});

function userToken(user: string, more: { clientId?: string; mfa?: boolean } = {}): Promise<string> {
  return idp.mintUserToken('okta', {
    user,
    scopes: ['mcp:tools'],
    groups: ['engineering'],
    ...(more.clientId === undefined ? {} : { clientId: more.clientId }),
    ...(more.mfa === true ? { extraClaims: { amr: ['pwd', 'mfa'] } } : {}),
  });
}

function connect(initialToken: string): Promise<SwitchingClient> {
  return connectSwitching(gateway.mcpUrl, initialToken, 'credential-attacks');
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('step-up bypass', () => {
  it('never hands the MFA-derived token to a request of the same session without MFA', async () => {
    const strong = await userToken(DAVE, { clientId: 'agent-a', mfa: true });
    const weak = await userToken(DAVE, { clientId: 'agent-b' });
    const { client, setToken: use } = await connect(strong);
    const before = github.seen.length;
    const first = await callTool(client, 'github__get_pull_request', PR);
    expect(first.isError ?? false).toBe(false);

    // The same user's token without MFA, from another client, on the same session.
    use(weak);
    const second = await callTool(client, 'github__get_pull_request', PR);
    expect(second.isError).toBe(true);
    expect(textOf(second)).toContain('interaction_required');

    use(strong);
    const third = await callTool(client, 'github__get_pull_request', PR);
    expect(third.isError ?? false).toBe(false);
    const seen = github.seen.slice(before);
    // The weak request never reached the upstream; the strong one reused its own token.
    expect(seen.map((c) => c.jti)).toEqual([seen[0]?.jti, seen[0]?.jti]);
    await client.close();
  });
});

describe('IdP error text', () => {
  it('shows neither the client secret nor the user token to the client or in any log', async () => {
    const token = await userToken('erin@example.com');
    const decoded = (body: string): string =>
      [...new URLSearchParams(body)].map(([k, v]) => `${k}=${v}`).join(' ');
    const echoes: Array<(body: string) => Reply> = [
      (b) => errorReply({ error: `invalid_grant ${b}`, error_description: b, suberror: b }),
      (b) =>
        errorReply({
          error: 'interaction_required',
          error_description: decoded(b),
          claims: JSON.stringify({ access_token: { echo: decoded(b) } }),
        }),
    ];
    const { client } = await connect(token);
    const shown: string[] = [];
    for (const reply of echoes) {
      echo.answer = answering((_form, raw) => reply(raw.body));
      const result: CallToolResult = await callTool(client, 'echo__get_pull_request', PR);
      expect(result.isError).toBe(true);
      shown.push(textOf(result), JSON.stringify(result._meta ?? {}));
    }
    await client.close();
    // The echo was real: the endpoint was sent both.
    const sent = echo.forms.filter((f) => f.get('grant_type') === TOKEN_EXCHANGE_GRANT).at(-1);
    expect(sent?.get('client_secret')).toBe(ECHO_SECRET);
    expect(sent?.get('subject_token')).toBe(token);

    expect(shown[0]).toContain('an error code that is not a known OAuth error');
    expect(shown[2]).toContain('interaction_required');
    const places = {
      client: shown.join('\n'),
      'gateway log': JSON.stringify(gateway.logs),
      'decision log': await gateway.auditText(),
    };
    for (const [place, text] of Object.entries(places)) {
      for (const secret of [ECHO_SECRET, token, encodeURIComponent(token)]) {
        expect({ place, leaked: text.includes(secret) }).toEqual({ place, leaked: false });
      }
    }
    expect(places['gateway log']).toContain('credential exchange refused by the IdP');
  });
});

describe('a token goes only to its own issuer', () => {
  it('denies with the reason, and the other authorization server never sees the token', async () => {
    const { client } = await connect(await userToken('frank@example.com'));
    const result = await callTool(client, 'foreign__get_pull_request', PR);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain(
      `upstream foreign obtains its tokens from ${foreign.issuer}, which does not trust your token's issuer ${idp.issuer('okta').issuer}`,
    );
    expect(foreign.exchanges()).toBe(0);
    await client.close();
  });
});

describe('a session that ends during an exchange', () => {
  it('gets no credential: the broker hears of the termination', async () => {
    const answer = held<Reply>();
    echo.answer = answering(() => answer.promise);
    const { client, transport } = await connect(await userToken('gina@example.com'));
    const before = echo.exchanges();
    // The answer never comes: the session is closed under the call.
    void callTool(client, 'echo__get_pull_request', PR).catch(() => undefined);
    await until('the exchange to reach the IdP', () => echo.exchanges() > before);
    await transport.terminateSession();
    answer.release(tokenReply('too-late'));
    // The call is denied either way (the record stage finds the session gone), so what
    // shows that the broker heard of the termination is its account of the late token.
    await until('the late token to be discarded', () =>
      gateway.logs.some(
        (l) =>
          l.message === 'obtained token discarded: its session ended meanwhile' &&
          l.upstream === 'echo',
      ),
    );
    await client.close();
  });
});

describe('incoming token lifetime', () => {
  it('refuses a token whose exp - iat is over auth.max_token_lifetime_s', async () => {
    const long = await idp.mintUserToken('okta', { user: DAVE, ttlSeconds: 7300 });
    const res = await rawPost(gateway.mcpUrl, INITIALIZE, { authorization: `Bearer ${long}` });
    expect(res.status).toBe(401);
    expect(res.text).toContain(
      "token lifetime (exp - iat) of 7300 s is over this gateway's limit of 7200 s",
    );
  });
});
