// Scoped credentials end to end: the gateway exchanges the user's token at a real IdP
// (RFC 8693 token exchange, Entra on-behalf-of) for a short-lived token scoped to one
// upstream and to the scopes the policy decided, and a real upstream checks that token
// itself. The client's token never reaches the upstream; failures deny, never fall back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startDevIdp, type DevIdp } from '../../dev/idp/index.js';
import { startScopedUpstream, type ScopedUpstream } from '../fixtures/servers/scoped-upstream.js';
import { connectClient, textOf } from './support/client.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy } from './support/policies.js';
import { freePort } from './support/ports.js';

const API = 'https://github.example/api';
const WIKI = 'api://wiki';

let idp: DevIdp;
let github: ScopedUpstream;
let wiki: ScopedUpstream;
let gateway: GatewayProcess;

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

async function userClient(user: string, profile: 'okta' | 'entra-v2' = 'okta'): Promise<Client> {
  const token = await idp.mintUserToken(profile, {
    user,
    scopes: ['mcp:tools'],
    groups: ['engineering'],
  });
  return connectClient(gateway.mcpUrl, token);
}

beforeAll(async () => {
  const port = await freePort();
  const audience = `http://127.0.0.1:${port}/mcp`;
  idp = await startDevIdp({
    audience,
    issuers: [{ profile: 'okta' }, { profile: 'entra-v2' }],
    exchangeScopes: {
      [API]: ['repo:read', 'repo:comment', 'repo:merge'],
      [WIKI]: ['repo:read', 'repo:comment'],
    },
    exchangeTtlSeconds: 3,
  });
  const okta = idp.issuer('okta');
  const entra = idp.issuer('entra-v2');
  github = await startScopedUpstream({ issuer: okta.issuer, jwksUri: okta.jwksUri, audience: API });
  wiki = await startScopedUpstream({
    issuer: entra.issuer,
    jwksUri: entra.jwksUri,
    audience: WIKI,
  });
  const exchange = {
    client_id: idp.gatewayClientId,
    client_secret: 'env:GATEWAY_CLIENT_SECRET',
    allow_insecure_http: true,
  };
  gateway = await startGatewayProcess({
    issuer: { issuer: okta.issuer, jwksUri: okta.jwksUri },
    bundle: buildFixturePolicy('credentials'),
    gateway: { port },
    env: { GATEWAY_CLIENT_SECRET: idp.gatewayClientSecret },
    extra: {
      auth: {
        issuers: [
          { profile: 'okta', issuer: okta.issuer, allow_insecure_http: true },
          {
            profile: 'entra',
            tenants: [entra.tenant],
            issuer_templates: { v2: entra.issuer.replace(entra.tenant ?? '', '{tid}') },
            jwks_uri: entra.jwksUri,
            audiences: [audience],
            allow_insecure_http: true,
          },
        ],
      },
    },
    upstreams: {
      github: {
        transport: 'http',
        url: github.url,
        isolation: 'per-session',
        credential: {
          type: 'token-exchange',
          issuer: okta.issuer,
          audience: API,
          scopes: ['repo:read'],
          refresh_before_s: 1,
          ...exchange,
        },
      },
      wiki: {
        transport: 'http',
        url: wiki.url,
        isolation: 'per-session',
        credential: {
          type: 'entra-obo',
          tenant: entra.tenant,
          audience: WIKI,
          token_endpoint: entra.tokenEndpoint,
          // The dev IdP's Entra issuer is not Microsoft's, so its users' tokens go there only
          // because this trusts it.
          subject_issuers: [entra.issuer],
          scopes: ['repo:read'],
          ...exchange,
        },
      },
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await github?.close();
  await wiki?.close();
  await idp?.stop();
});

describe('token exchange (RFC 8693)', () => {
  it('runs each call with a token for that upstream, that user and the scopes the policy chose', async () => {
    const alice = await userClient('alice@example.com');
    const before = github.seen.length;
    expect(
      textOf(await call(alice, 'github__get_pull_request', { repo: 'org/repo', number: 7 })),
    ).not.toContain('insufficient');
    expect(
      textOf(
        await call(alice, 'github__create_comment', { repo: 'org/repo', number: 7, body: 'lgtm' }),
      ),
    ).not.toContain('insufficient');
    const [read, comment] = github.seen.slice(before);
    expect(read).toMatchObject({
      tool: 'get_pull_request',
      sub: 'alice@example.com',
      scopes: ['repo:read'],
      allowed: true,
    });
    expect(comment).toMatchObject({
      tool: 'create_comment',
      scopes: ['repo:comment'],
      allowed: true,
    });
    expect(read?.azp).toBe(idp.gatewayClientId);
    // The client's own token (for the gateway) never reached the upstream.
    expect(github.seen.every((c) => c.claims.aud === API)).toBe(true);
    await alice.close();
  });

  it('cannot merge with the scoped token, even though this (too lax) policy allowed the call', async () => {
    const alice = await userClient('alice@example.com');
    const result = await call(alice, 'github__merge_pull_request', { repo: 'org/repo', number: 7 });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('insufficient scope: needs repo:merge');
    await alice.close();
  });

  it('never lets two users share a credential', async () => {
    const alice = await userClient('alice@example.com');
    const bob = await userClient('bob@example.com');
    const before = github.seen.length;
    await call(alice, 'github__get_pull_request', { repo: 'org/repo', number: 1 });
    await call(bob, 'github__get_pull_request', { repo: 'org/repo', number: 1 });
    const [a, b] = github.seen.slice(before);
    expect(a?.sub).toBe('alice@example.com');
    expect(b?.sub).toBe('bob@example.com');
    expect(a?.jti).not.toBe(b?.jti);
    expect(a?.sessionId).not.toBe(b?.sessionId);
    await alice.close();
    await bob.close();
  });

  it('renews an exchanged token that expired', async () => {
    const alice = await userClient('alice@example.com');
    const before = github.seen.length;
    await call(alice, 'github__get_pull_request', { repo: 'org/repo', number: 2 });
    await call(alice, 'github__get_pull_request', { repo: 'org/repo', number: 2 });
    // TTL 3 s, renewed 1 s before expiry: past 2 s the next call gets a new token.
    await new Promise((r) => setTimeout(r, 2300));
    await call(alice, 'github__get_pull_request', { repo: 'org/repo', number: 2 });
    const [first, cached, renewed] = github.seen.slice(before);
    expect(cached?.jti).toBe(first?.jti);
    expect(renewed?.jti).not.toBe(first?.jti);
    expect(renewed?.allowed).toBe(true);
    await alice.close();
  });
});

describe('failure denies, never falls back', () => {
  it('denies with an actionable reason when consent is missing', async () => {
    idp.setConsent('carol@example.com', API, false);
    const carol = await userClient('carol@example.com');
    const before = github.seen.length;
    const result = await call(carol, 'github__get_pull_request', { repo: 'org/repo', number: 3 });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('consent_required');
    expect(github.seen.length).toBe(before);
    await carol.close();
  });

  it('passes the claims challenge to the client when the IdP needs interaction (step-up)', async () => {
    idp.setStepUp('dave@example.com', true, API);
    const dave = await userClient('dave@example.com');
    const result = await call(dave, 'github__get_pull_request', { repo: 'org/repo', number: 4 });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('interaction_required');
    const meta = result._meta?.['mcpgate/decision'] as { claims_challenge?: string } | undefined;
    expect(meta?.claims_challenge).toContain('acr');
    await dave.close();
  });

  it('denies while the IdP is unreachable (no cached token for this call)', async () => {
    const erin = await userClient('erin@example.com');
    idp.setAvailable(false);
    try {
      const result = await call(erin, 'github__create_comment', {
        repo: 'org/repo',
        number: 5,
        body: 'x',
      });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain('could not be reached');
    } finally {
      idp.setAvailable(true);
    }
    await erin.close();
  });

  it('denies when the policy asks for scopes the API does not grant', async () => {
    const alice = await userClient('alice@example.com');
    const before = github.seen.length;
    // The fixture policy gives whoami repo:admin, which the IdP does not grant for this API.
    const result = await call(alice, 'github__whoami');
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('invalid_scope');
    expect(github.seen.length).toBe(before);
    await alice.close();
  });
});

describe('Entra on-behalf-of', () => {
  it('gets an OBO token for the downstream API with the decided scopes', async () => {
    const frank = await userClient('frank@example.com', 'entra-v2');
    const before = wiki.seen.length;
    const result = await call(frank, 'wiki__get_pull_request', { repo: 'org/wiki', number: 1 });
    expect(result.isError ?? false).toBe(false);
    const seen = wiki.seen[before];
    expect(seen).toMatchObject({ scopes: ['repo:read'], azp: idp.gatewayClientId, allowed: true });
    await frank.close();
  });
});

describe('audit', () => {
  it('records credential kind, audience, scopes and the acting chain, never a token', async () => {
    const text = await gateway.auditText();
    const events = text
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            input: { tool?: { id: string } };
            credential?: Record<string, unknown>;
          },
      );
    const read = events.find((e) => e.input.tool?.id === 'github.get_pull_request' && e.credential);
    expect(read?.credential).toMatchObject({
      kind: 'token-exchange',
      audience: API,
      scopes: ['repo:read'],
      actor_chain: {
        user: expect.stringMatching(/^00u/),
        client: 'mcpgate-dev-client',
        gateway: 'e2e',
      },
    });
    // No JWT anywhere in the audit or the gateway's own log.
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
    expect(JSON.stringify(gateway.logs)).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });
});
