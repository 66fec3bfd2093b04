// The credential broker against the real dev IdP, and against a token endpoint the test
// writes (test/support/token-endpoint.ts) for what a well-behaved IdP never does: echo the
// request in its errors, answer ten-year lifetimes or tokens with CR/LF, answer after the
// session ended. Also private_key_jwt client authentication, secret rotation, the cache
// keyed by the subject token (no step-up bypass), single-flight exchanges, and tokens sent
// only to their own issuer.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import type { CredentialConfig } from '../../src/config/credentials.js';
import {
  CredentialBroker,
  CredentialError,
  type CallIdentity,
} from '../../src/credentials/broker.js';
import { startDevIdp, type DevIdp } from '../../dev/idp/index.js';
import { silentLogger } from '../../src/util/logger.js';
import { capturingLogger } from '../support/logger.js';
import {
  errorReply,
  held,
  startTokenEndpoint,
  tokenReply,
  type TokenEndpoint,
} from '../support/token-endpoint.js';
import type { LoopbackServer, Reply } from '../support/loopback-server.js';

const API = 'https://github.example/api';
let idp: DevIdp;
let keyFile: string;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  keyFile = join(mkdtempSync(join(tmpdir(), 'mcpgate-broker-')), 'gateway-key.pem');
  writeFileSync(keyFile, await exportPKCS8(privateKey));
  idp = await startDevIdp({
    audience: 'http://127.0.0.1:1/mcp',
    issuers: [{ profile: 'oidc' }],
    exchangeScopes: { [API]: ['repo:read', 'repo:comment'] },
    gatewayClientJwks: { keys: [{ ...(await exportJWK(publicKey)), alg: 'RS256', use: 'sig' }] },
  });
});

afterAll(async () => {
  await idp?.stop();
});

function config(): CredentialConfig {
  return {
    type: 'token-exchange',
    issuer: idp.issuer('oidc').issuer,
    audience: API,
    clientId: idp.gatewayClientId,
    clientAuth: { kind: 'private_key_jwt', key: { kind: 'file', path: keyFile }, alg: 'RS256' },
    defaultScopes: ['repo:read'],
    refreshBeforeMs: 0,
    maxTokenLifetimeMs: 3_600_000,
    subjectIssuers: [idp.issuer('oidc').issuer],
    allowInsecureHttp: true,
  };
}

/** A caller of session `sessionId` presenting `subjectToken` (issued by the oidc issuer). */
function caller(subjectToken: string, more: Partial<CallIdentity> = {}): CallIdentity {
  return {
    sessionId: 's1',
    sessionExpiresAt: null,
    subjectToken,
    issuer: idp.issuer('oidc').issuer,
    subject: 'alice',
    clientId: 'agent',
    tokenType: 'user',
    ...more,
  };
}

const tokenOf = (headers: Record<string, string>): string =>
  (headers.Authorization ?? '').replace(/^Bearer /, '');

describe('CredentialBroker', () => {
  it('exchanges with private_key_jwt client authentication and scopes the token', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice', scopes: ['mcp:tools'] });
    const who = caller(subjectToken);
    const credential = await broker.forCall('github', config(), who, { scopes: ['repo:comment'] });
    const token = (credential.headers.Authorization ?? '').replace(/^Bearer /, '');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      aud: API,
      sub: 'alice',
      scope: 'repo:comment',
      act: { sub: idp.gatewayClientId },
    });
    expect(credential.facts).toEqual({
      kind: 'token-exchange',
      audience: API,
      scopes: ['repo:comment'],
      actor_chain: { user: 'alice', client: 'agent', gateway: 'gw' },
    });

    // Cached per (session, upstream, audience, scopes, subject token), and gone with the session.
    const again = await broker.forCall('github', config(), who, { scopes: ['repo:comment'] });
    expect(again.headers.Authorization).toBe(credential.headers.Authorization);
    broker.dropSession('s1');
    const fresh = await broker.forCall('github', config(), who, { scopes: ['repo:comment'] });
    expect(fresh.headers.Authorization).not.toBe(credential.headers.Authorization);
  });

  it('refuses app-only callers and audiences the upstream is not configured for', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice' });
    await expect(
      broker.forCall(
        'github',
        config(),
        caller(subjectToken, { subject: 'svc', clientId: 'svc', tokenType: 'app' }),
        undefined,
      ),
    ).rejects.toThrow(/app-only/);
    await expect(
      broker.forCall('github', config(), caller(subjectToken), {
        audience: 'https://elsewhere.example',
      }),
    ).rejects.toThrow(/configured for https:\/\/github.example\/api/);
  });
});

describe('CredentialBroker: static secrets', () => {
  const staticConfig = (path: string): CredentialConfig => ({
    type: 'static-secret',
    value: { kind: 'file', path },
    header: 'Authorization',
    format: 'Token {secret}',
    envVar: undefined,
  });
  const who: CallIdentity = {
    sessionId: 's',
    sessionExpiresAt: null,
    subjectToken: '',
    issuer: 'https://idp.example.com',
    subject: 'alice',
    clientId: 'a',
    tokenType: 'user',
  };

  it('writes the secret verbatim, even with $ sequences, and re-reads it after rotation', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcpgate-secret-')), 'key');
    writeFileSync(file, 'ab$$cd$&ef$`x\n');
    const broker = new CredentialBroker('gw', silentLogger);
    expect((await broker.forCall('api', staticConfig(file), who, undefined)).headers).toEqual({
      Authorization: 'Token ab$$cd$&ef$`x',
    });
    writeFileSync(file, 'rotated');
    expect(
      (await broker.forCall('api', staticConfig(file), who, undefined)).headers.Authorization,
    ).toBe('Token rotated');
  });

  it('denies cleanly when the secret cannot be read, without naming where it lives', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const err = await broker
      .forCall('api', staticConfig('/nonexistent/secret'), who, undefined)
      .catch((e: Error) => e);
    expect((err as Error).message).toBe(
      'the secret for upstream api cannot be read (see the gateway log)',
    );
  });

  it('refuses a per-call scope for a static secret instead of ignoring it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcpgate-secret-')), 'key');
    writeFileSync(file, 'k');
    const broker = new CredentialBroker('gw', silentLogger);
    await expect(
      broker.forCall('api', staticConfig(file), who, { scopes: ['repo:read'] }),
    ).rejects.toThrow(/cannot be scoped per call/);
  });
});

describe('CredentialBroker: one exchanged token per subject token (no step-up bypass)', () => {
  it('exchanges again for a weaker token of the same user in the same session', async () => {
    idp.setStepUp('dave', true, API);
    try {
      const broker = new CredentialBroker('gw', silentLogger);
      const dave = { subject: 'dave', sessionId: 'step-up' };
      const strong = await idp.mintUserToken('oidc', {
        user: 'dave',
        clientId: 'agent-a',
        extraClaims: { amr: ['pwd', 'mfa'] },
      });
      const weak = await idp.mintUserToken('oidc', { user: 'dave', clientId: 'agent-b' });
      const first = await broker.forCall(
        'github',
        config(),
        caller(strong, { ...dave, clientId: 'agent-a' }),
        undefined,
      );
      // Same session and user, another client, no MFA: the IdP is asked, and refuses.
      const refused = await broker
        .forCall('github', config(), caller(weak, { ...dave, clientId: 'agent-b' }), undefined)
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(CredentialError);
      expect((refused as CredentialError).message).toContain('interaction_required');
      expect((refused as CredentialError).claimsChallenge).toContain('acr');
      // The MFA token still has its own token, cached.
      const again = await broker.forCall(
        'github',
        config(),
        caller(strong, { ...dave, clientId: 'agent-a' }),
        undefined,
      );
      expect(again.headers.Authorization).toBe(first.headers.Authorization);
      // Another MFA token of the same user gets a token of its own.
      const other = await idp.mintUserToken('oidc', {
        user: 'dave',
        clientId: 'agent-c',
        extraClaims: { amr: ['mfa'] },
      });
      const third = await broker.forCall(
        'github',
        config(),
        caller(other, { ...dave, clientId: 'agent-c' }),
        undefined,
      );
      expect(decodeJwt(tokenOf(third.headers)).jti).not.toBe(decodeJwt(tokenOf(first.headers)).jti);
    } finally {
      idp.setStepUp('dave', false, API);
    }
  });
});

// ---------------------------------------------------------------------------------------
// A token endpoint written by the test: it misbehaves on purpose.

const CLIENT_SECRET = `cs-${randomBytes(24).toString('base64url')}`;
let as: TokenEndpoint & { server: LoopbackServer };

beforeAll(async () => {
  as = await startTokenEndpoint('as');
});

afterAll(async () => {
  await as?.server.close();
});

type ExchangeConfig = Extract<CredentialConfig, { type: 'token-exchange' }>;

/** A token-exchange credential at the test's endpoint, trusting the dev IdP's users. */
function localConfig(more: Partial<ExchangeConfig> = {}): ExchangeConfig {
  return {
    type: 'token-exchange',
    issuer: as.issuer,
    audience: API,
    clientId: 'gw-client',
    clientAuth: { kind: 'secret', secret: { kind: 'literal', value: CLIENT_SECRET } },
    defaultScopes: ['repo:read'],
    refreshBeforeMs: 0,
    maxTokenLifetimeMs: 3_600_000,
    subjectIssuers: [as.issuer, idp.issuer('oidc').issuer],
    allowInsecureHttp: true,
    ...more,
  };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('CredentialBroker: IdP text is not trusted', () => {
  it('shows only known error codes and scrubbed text, whatever the IdP echoes back', async () => {
    const lines: string[] = [];
    const broker = new CredentialBroker('gw', capturingLogger(lines));
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice' });
    const decoded = (body: string): string =>
      [...new URLSearchParams(body)].map(([k, v]) => `${k}=${v}`).join(' ');
    const echoes: Array<(body: string) => Reply> = [
      (b) => errorReply({ error: `invalid_grant ${b}`, error_description: b, suberror: b }),
      (b) => errorReply({ error: 'invalid_grant', error_description: `refused: ${decoded(b)}` }),
      (b) =>
        errorReply({
          error: 'interaction_required',
          error_description: decoded(b),
          claims: JSON.stringify({ access_token: { echo: decoded(b) } }),
        }),
      (b) => errorReply({ error: 'interaction_required', claims: b }),
      (b) => errorReply({ error: 'server_error', error_description: `${b}\r\nX-Injected: 1` }, 500),
      (b) => ({ status: 400, body: b }),
    ];
    const messages: string[] = [];
    for (const echo of echoes) {
      as.answer = (_form, raw) => echo(raw.body);
      const err = await broker
        .forCall('echo', localConfig(), caller(subjectToken), undefined)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CredentialError);
      const { message, claimsChallenge } = err as CredentialError;
      messages.push(`${message}\n${claimsChallenge ?? ''}`);
      expect(message).not.toMatch(/[\r\n]/);
      expect(message.length).toBeLessThan(500);
    }
    // The IdP really was sent both, so an echo could have shown them.
    const form = as.forms.at(-1);
    expect(form?.get('client_secret')).toBe(CLIENT_SECRET);
    expect(form?.get('subject_token')).toBe(subjectToken);
    const shown = [...messages, ...lines].join('\n');
    for (const secret of [CLIENT_SECRET, subjectToken, encodeURIComponent(subjectToken)]) {
      expect(shown).not.toContain(secret);
    }
    expect(shown).not.toMatch(/eyJ[A-Za-z0-9_-]+\./);
    expect(shown).not.toContain('X-Injected: 1\n');
    // What is kept: known codes, and the IdP's own words.
    expect(messages[0]).toContain('an error code that is not a known OAuth error');
    expect(messages[1]).toContain(
      'invalid_grant — your token was not accepted; re-authenticate; the IdP said: "refused: ',
    );
    expect(messages[2]).toContain('interaction_required');
  });

  it('passes on a claims challenge that is a clean JSON claims request', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice' });
    const claims = '{"access_token":{"acr":{"essential":true,"value":"urn:mfa"}}}';
    as.answer = () => errorReply({ error: 'interaction_required', claims });
    const err = await broker
      .forCall('echo', localConfig(), caller(subjectToken), undefined)
      .catch((e: unknown) => e);
    expect((err as CredentialError).claimsChallenge).toBe(claims);
  });
});

describe('CredentialBroker: a token goes only to its own issuer', () => {
  it('refuses to send it elsewhere, unless subject_issuers trusts its issuer', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice' });
    const before = as.server.requests.length;
    const err = await broker
      .forCall(
        'other',
        localConfig({ subjectIssuers: [as.issuer] }),
        caller(subjectToken),
        undefined,
      )
      .catch((e: unknown) => e);
    expect((err as CredentialError).message).toBe(
      `upstream other obtains its tokens from ${as.issuer}, which does not trust your token's issuer ${idp.issuer('oidc').issuer}; a token is sent only to its own issuer unless upstreams.other.credential.subject_issuers names it`,
    );
    // Not even discovery: nothing went to that server.
    expect(as.server.requests.length).toBe(before);

    as.answer = () => tokenReply('for-a-trusted-pair');
    const ok = await broker.forCall('other', localConfig(), caller(subjectToken), undefined);
    expect(tokenOf(ok.headers)).toBe('for-a-trusted-pair');
    expect(as.forms.at(-1)?.get('subject_token')).toBe(subjectToken);
  });
});

describe('CredentialBroker: nothing kept for a session that ended', () => {
  it('denies and keeps nothing when the session is terminated while the IdP answers', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const who = caller(await idp.mintUserToken('oidc', { user: 'alice' }), { sessionId: 'ending' });
    const answer = held<Reply>();
    as.answer = () => answer.promise;
    const before = as.exchanges();
    const call = broker.forCall('echo', localConfig(), who, undefined);
    await until('the exchange to reach the IdP', () => as.exchanges() > before);
    broker.sessionEnded('ending');
    answer.release(tokenReply('too-late'));
    await expect(call).rejects.toThrow(
      'this session has ended, so no credential for upstream echo is obtained for it; initialize a new session',
    );
    // A request that loaded the session before it ended sends nothing to the IdP.
    as.answer = () => tokenReply('never');
    await expect(broker.forCall('echo', localConfig(), who, undefined)).rejects.toThrow(
      /this session has ended/,
    );
    expect(as.exchanges()).toBe(before + 1);
  });

  it('uses but does not cache a token whose session was let go here meanwhile', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const who = caller(await idp.mintUserToken('oidc', { user: 'alice' }), { sessionId: 'idle' });
    const answer = held<Reply>();
    as.answer = () => answer.promise;
    const before = as.exchanges();
    const call = broker.forCall('echo', localConfig(), who, undefined);
    await until('the exchange to reach the IdP', () => as.exchanges() > before);
    broker.dropSession('idle');
    answer.release(tokenReply('released-meanwhile'));
    expect(tokenOf((await call).headers)).toBe('released-meanwhile');
    as.answer = () => tokenReply('next');
    expect(tokenOf((await broker.forCall('echo', localConfig(), who, undefined)).headers)).toBe(
      'next',
    );
    expect(as.exchanges()).toBe(before + 2);
  });

  it('never keeps a token past the session’s lifetime, nor asks for one after it', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice' });
    const sessionExpiresAt = Date.now() + 60_000;
    as.answer = () => tokenReply('bounded', 3600);
    const credential = await broker.forCall(
      'echo',
      localConfig(),
      caller(subjectToken, { sessionId: 'short', sessionExpiresAt }),
      undefined,
    );
    expect(credential.expiresAt).toBeLessThanOrEqual(sessionExpiresAt);
    const before = as.exchanges();
    const over = caller(subjectToken, { sessionId: 'over', sessionExpiresAt: Date.now() - 1 });
    await expect(broker.forCall('echo', localConfig(), over, undefined)).rejects.toThrow(
      /this session has ended/,
    );
    expect(as.exchanges()).toBe(before);
  });
});

describe('CredentialBroker: what the IdP issues is bounded', () => {
  it('uses a ten-year token no longer than max_token_lifetime_s', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const who = caller(await idp.mintUserToken('oidc', { user: 'alice' }), { sessionId: 'cap' });
    const capped = localConfig({ maxTokenLifetimeMs: 400 });
    as.answer = () => tokenReply('ten-years', 315_360_000);
    const credential = await broker.forCall('echo', capped, who, undefined);
    expect(credential.expiresAt).toBeLessThanOrEqual(Date.now() + 400);
    // Past the cap the IdP is asked again, and its refusal now denies the call.
    await sleep(450);
    as.answer = () => errorReply({ error: 'invalid_grant', error_description: 'user disabled' });
    await expect(broker.forCall('echo', capped, who, undefined)).rejects.toThrow(
      'invalid_grant — your token was not accepted; re-authenticate; the IdP said: "user disabled"',
    );
  });

  it('refuses an access token an Authorization header cannot carry, and keeps none', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const who = caller(await idp.mintUserToken('oidc', { user: 'alice' }), { sessionId: 'crlf' });
    const before = as.exchanges();
    const bad = ['abc\r\nX-Injected: 1', 'two words', 'tab\there', 'ümlaut', '"quoted"', 'a=b'];
    for (const token of bad) {
      as.answer = () => tokenReply(token);
      await expect(broker.forCall('echo', localConfig(), who, undefined)).rejects.toThrow(
        /^the IdP issued a token for upstream echo that cannot be used: it has characters an Authorization header cannot carry/,
      );
    }
    as.answer = () => tokenReply('Zm9vYmFy.abc-_~+/==');
    const ok = await broker.forCall('echo', localConfig(), who, undefined);
    expect(tokenOf(ok.headers)).toBe('Zm9vYmFy.abc-_~+/==');
    // Every refused token was asked for anew: none was kept.
    expect(as.exchanges() - before).toBe(bad.length + 1);
  });

  it('shares one exchange among concurrent misses of one key (single-flight)', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice' });
    const gate = held<void>();
    let issued = 0;
    as.answer = async () => {
      await gate.promise;
      return tokenReply(`shared-${++issued}`);
    };
    const scopeSets = [['repo:read'], ['repo:comment'], ['repo:comment', 'repo:read']];
    const before = as.exchanges();
    // 16 calls over 6 keys: 2 sessions x 3 scope sets.
    const calls = Array.from({ length: 16 }, (_, i) =>
      broker
        .forCall('echo', localConfig(), caller(subjectToken, { sessionId: `sf-${i % 2}` }), {
          scopes: scopeSets[i % 3] ?? [],
        })
        .then((c) => ({ key: i % 6, token: tokenOf(c.headers) })),
    );
    await until('six exchanges at the IdP', () => as.exchanges() - before >= 6);
    gate.release();
    const results = await Promise.all(calls);
    expect(as.exchanges() - before).toBe(6);
    const tokensByKey = new Map<number, Set<string>>();
    for (const { key, token } of results) {
      tokensByKey.set(key, (tokensByKey.get(key) ?? new Set()).add(token));
    }
    expect([...tokensByKey.values()].map((t) => t.size)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(new Set(results.map((r) => r.token)).size).toBe(6);
  });

  it('asks once for the gateway’s own token when connections need it at the same time', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const gate = held<void>();
    as.answer = async () => {
      await gate.promise;
      return tokenReply('catalog-token');
    };
    const before = as.forms.length;
    const config = localConfig({ audience: 'https://catalog.example/api' });
    const asks = Array.from({ length: 5 }, () => broker.connectionHeaders('echo', config));
    await until('the request at the IdP', () => as.forms.length > before);
    gate.release();
    for (const headers of await Promise.all(asks)) {
      expect(headers).toEqual({ Authorization: 'Bearer catalog-token' });
    }
    expect(as.forms.length - before).toBe(1);
  });
});
