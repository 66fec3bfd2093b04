// KeySet: one issuer's signing keys, fetched from a real JWKS endpoint on loopback (or found
// by OIDC discovery), cached, refreshed after max-age, refetched on an unknown kid at most
// once per cooldown, and kept when the IdP cannot be reached. Tokens are verified with
// jose's jwtVerify using KeySet.getKey, as the verifier does.
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { KeySet, KeySetUnavailableError, type KeySource } from '../../src/identity/keys.js';
import { silentLogger } from '../../src/util/logger.js';
import { jwks, newSigningKey, signToken, type SigningKey } from '../support/issuer.js';
import {
  json,
  startLoopbackServer,
  type LoopbackServer,
  type Route,
} from '../support/loopback-server.js';

const servers: LoopbackServer[] = [];

/** A JWKS (or discovery) server for one test, closed after it. */
async function startServer(): Promise<LoopbackServer> {
  const server = await startLoopbackServer();
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function sign(key: SigningKey, claims: JWTPayload = {}): Promise<string> {
  return signToken(key, { sub: 'alice', ...claims });
}

function keySet(source: Partial<KeySource> & Pick<KeySource, 'jwksUri'>): KeySet {
  return new KeySet(
    {
      label: 'test issuer',
      discoveryIssuer: undefined,
      allowInsecureHttp: true,
      cooldownMs: 0,
      maxAgeMs: 3_600_000,
      ...source,
    },
    silentLogger,
  );
}

async function verify(keys: KeySet, token: string): Promise<JWTPayload> {
  return (await jwtVerify(token, keys.getKey)).payload;
}

/** The error verification fails with (fails the test when it succeeds). */
async function failure(keys: KeySet, token: string): Promise<Error> {
  try {
    await verify(keys, token);
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`expected an Error, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected verification to fail, but it succeeded');
}

// RSA key generation is slow; the keys are immutable, so every test shares them.
let k1: SigningKey;
let k2: SigningKey;
let stranger: SigningKey;
beforeAll(async () => {
  [k1, k2, stranger] = await Promise.all([
    newSigningKey('k1'),
    newSigningKey('k2'),
    newSigningKey('stranger'),
  ]);
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('KeySet: fetching and caching', () => {
  it('fetches nothing until first used, then fetches once and caches', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys` });

    expect(keys.hasKeys).toBe(false);
    expect(keys.status()).toEqual({ jwks_uri: `${server.base}/keys`, keys: 0 });
    expect(server.requests).toHaveLength(0);

    expect(await verify(keys, await sign(k1))).toMatchObject({ sub: 'alice' });
    expect(server.hits('/keys')).toBe(1);
    expect(keys.hasKeys).toBe(true);
    const status = keys.status();
    expect(status).toEqual({
      jwks_uri: `${server.base}/keys`,
      keys: 1,
      fetched_at: expect.stringMatching(ISO),
    });

    await verify(keys, await sign(k1, { sub: 'bob' }));
    expect(server.hits('/keys')).toBe(1);
  });

  it('asks for JSON', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    await keys.refresh();
    expect(server.requests[0]?.headers.accept).toBe('application/json');
  });

  it('coalesces concurrent fetches into one request', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    const token = await sign(k1);
    await Promise.all([verify(keys, token), verify(keys, token), verify(keys, token)]);
    expect(server.hits('/keys')).toBe(1);
    await Promise.all([keys.refresh(), keys.refresh()]);
    expect(server.hits('/keys')).toBe(2);
  });
});

describe('KeySet: rotation (unknown kid) and cooldown', () => {
  it('refetches on an unknown kid and finds a key rotated in since (cooldown 0)', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 0 });
    await verify(keys, await sign(k1));
    expect(server.hits('/keys')).toBe(1);

    server.routes.set('/keys', json(jwks(k1, k2)));
    expect(await verify(keys, await sign(k2, { sub: 'carol' }))).toMatchObject({ sub: 'carol' });
    expect(server.hits('/keys')).toBe(2);
    expect(keys.status().keys).toBe(2);
    // Both keys are now cached: no further request.
    await verify(keys, await sign(k1));
    await verify(keys, await sign(k2));
    expect(server.hits('/keys')).toBe(2);
  });

  it('refetches once for a kid the IdP does not have, then reports no matching key', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 0 });
    await keys.refresh();
    const err = await failure(keys, await sign(stranger));
    expect(err).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(server.hits('/keys')).toBe(2);
  });

  it('does not refetch on an unknown kid within the cooldown', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 3_600_000 });
    await verify(keys, await sign(k1));
    server.routes.set('/keys', json(jwks(k1, k2)));

    const token = await sign(k2);
    for (let i = 0; i < 3; i++) {
      expect(await failure(keys, token)).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    }
    expect(server.hits('/keys')).toBe(1);
    // An explicit refresh still picks the new key up.
    await keys.refresh();
    await verify(keys, token);
    expect(server.hits('/keys')).toBe(2);
  });

  it('keeps a key the IdP removed until the cached set is refreshed', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 3_600_000 });
    await keys.refresh();
    server.routes.set('/keys', json(jwks(k2)));
    await verify(keys, await sign(k1));
    expect(server.hits('/keys')).toBe(1);
  });
});

describe('KeySet: max age', () => {
  it('refreshes the cached keys once they are older than max-age', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 0, maxAgeMs: 20 });
    const token = await sign(k1);
    await verify(keys, token);
    expect(server.hits('/keys')).toBe(1);
    await sleep(40);
    await verify(keys, token);
    expect(server.hits('/keys')).toBe(2);
  });

  it('stops accepting a key the IdP removed once max-age has passed', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 0, maxAgeMs: 20 });
    const old = await sign(k1);
    await verify(keys, old);

    server.routes.set('/keys', json(jwks(k2)));
    await sleep(40);
    expect(await failure(keys, old)).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    await verify(keys, await sign(k2));
    expect(keys.status().keys).toBe(1);
  });
});

describe('KeySet: IdP outages', () => {
  it('keeps verifying with cached keys while the endpoint fails, and recovers', async () => {
    const server = await startServer();
    let failing = false;
    server.routes.set('/keys', () =>
      failing
        ? { status: 500, body: '{"error":"boom"}' }
        : { status: 200, body: JSON.stringify(jwks(k1)) },
    );
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    const token = await sign(k1);
    await verify(keys, token);

    failing = true;
    await keys.refresh();
    const down = keys.status();
    expect(down).toMatchObject({
      keys: 1,
      fetched_at: expect.stringMatching(ISO),
      last_error: 'JWKS endpoint answered HTTP 500',
      last_error_at: expect.stringMatching(ISO),
    });
    expect(keys.hasKeys).toBe(true);
    await verify(keys, token);

    failing = false;
    await keys.refresh();
    const up = keys.status();
    expect(up.last_error).toBeUndefined();
    expect(up.last_error_at).toBeUndefined();
    expect(up.keys).toBe(1);
    await verify(keys, token);
  });

  it('keeps cached keys past max-age when the server is gone', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 0, maxAgeMs: 1 });
    const token = await sign(k1);
    await verify(keys, token);
    await server.close();
    await sleep(5);

    // max-age has passed: the refresh fails, the cached key still verifies.
    expect(await verify(keys, token)).toMatchObject({ sub: 'alice' });
    const status = keys.status();
    expect(status.keys).toBe(1);
    expect(status.last_error).toEqual(expect.any(String));
    expect(status.last_error).not.toBe('');
  });

  it('throws KeySetUnavailableError when keys were never fetched and the endpoint fails', async () => {
    const server = await startServer();
    server.routes.set('/keys', json({ error: 'unavailable' }, 503));
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    const err = await failure(keys, await sign(k1));
    expect(err).toBeInstanceOf(KeySetUnavailableError);
    expect(err.message).toContain('signing keys of the issuer are unavailable');
    expect(err.message).toContain('HTTP 503');
    expect(keys.hasKeys).toBe(false);
    expect(keys.status()).toMatchObject({ keys: 0, last_error: 'JWKS endpoint answered HTTP 503' });
    expect(keys.status().fetched_at).toBeUndefined();
  });

  it('throws KeySetUnavailableError when keys were never fetched and the server is down', async () => {
    const server = await startServer();
    const uri = `${server.base}/keys`;
    await server.close();
    const keys = keySet({ jwksUri: uri });
    const err = await failure(keys, await sign(k1));
    expect(err).toBeInstanceOf(KeySetUnavailableError);
    expect(keys.status().last_error).toEqual(expect.any(String));
  });

  it('recovers from never having had keys once the endpoint answers', async () => {
    const server = await startServer();
    server.routes.set('/keys', json({}, 500));
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    await keys.refresh();
    expect(keys.hasKeys).toBe(false);
    server.routes.set('/keys', json(jwks(k1)));
    await verify(keys, await sign(k1));
    expect(keys.status().last_error).toBeUndefined();
  });

  it('does not follow redirects from the JWKS endpoint', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    server.routes.set('/moved', () => ({
      status: 302,
      body: '',
      headers: { location: `${server.base}/keys` },
    }));
    const keys = keySet({ jwksUri: `${server.base}/moved` });
    expect(await failure(keys, await sign(k1))).toBeInstanceOf(KeySetUnavailableError);
    expect(server.hits('/keys')).toBe(0);
  });
});

describe('KeySet: malformed JWKS documents', () => {
  it.each<[string, Route]>([
    ['an object without keys', json({ jwks: [] })],
    ['keys that is not an array', json({ keys: { kid: 'k1' } })],
    ['a JSON array', json([])],
    ['JSON null', json(null)],
    ['HTML', () => ({ status: 200, body: '<html>maintenance</html>' })],
  ])('treats %s as an error and keeps the cached keys', async (_name, reply) => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    const token = await sign(k1);
    await verify(keys, token);

    server.routes.set('/keys', reply);
    await keys.refresh();
    expect(keys.status()).toMatchObject({ keys: 1, last_error: expect.any(String) });
    await verify(keys, token);
  });

  it('says what is wrong with a document that has no keys array', async () => {
    const server = await startServer();
    server.routes.set('/keys', json({ jwks: [] }));
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    await keys.refresh();
    expect(keys.status().last_error).toBe('JWKS document has no "keys" array');
    expect(keys.hasKeys).toBe(false);
  });

  it('refuses a JWKS document over 512 KB and keeps the cached keys', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys` });
    const token = await sign(k1);
    await verify(keys, token);

    server.routes.set('/keys', json({ ...jwks(k1), padding: 'x'.repeat(600 * 1024) }));
    await keys.refresh();
    expect(keys.status().last_error).toBe('JWKS document is too large');
    await verify(keys, token);
  });
});

describe('KeySet: discovery', () => {
  /** An issuer at {base}/idp whose metadata points at {base}/discovered-keys. */
  async function discoveryServer(): Promise<LoopbackServer> {
    const server = await startServer();
    server.routes.set(
      '/idp/.well-known/openid-configuration',
      json({ issuer: `${server.base}/idp`, jwks_uri: `${server.base}/discovered-keys` }),
    );
    server.routes.set('/discovered-keys', json(jwks(k1)));
    return server;
  }

  it('finds the jwks_uri through the issuer metadata when none is configured', async () => {
    const server = await discoveryServer();
    const keys = keySet({ jwksUri: undefined, discoveryIssuer: `${server.base}/idp` });
    expect(keys.status()).toEqual({ keys: 0 });

    await verify(keys, await sign(k1));
    expect(server.hits('/idp/.well-known/openid-configuration')).toBe(1);
    expect(server.hits('/discovered-keys')).toBe(1);
    expect(keys.status()).toMatchObject({ jwks_uri: `${server.base}/discovered-keys`, keys: 1 });
  });

  it('refuses metadata whose issuer is not the configured one', async () => {
    const server = await startServer();
    server.routes.set(
      '/idp/.well-known/openid-configuration',
      json({ issuer: 'https://evil.example.com', jwks_uri: `${server.base}/discovered-keys` }),
    );
    server.routes.set('/discovered-keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: undefined, discoveryIssuer: `${server.base}/idp` });
    expect(await failure(keys, await sign(k1))).toBeInstanceOf(KeySetUnavailableError);
    expect(server.hits('/discovered-keys')).toBe(0);
    expect(keys.status().last_error).toMatch(/issuer/);
  });

  it('refuses metadata without a jwks_uri', async () => {
    const server = await startServer();
    server.routes.set(
      '/idp/.well-known/openid-configuration',
      json({ issuer: `${server.base}/idp` }),
    );
    const keys = keySet({ jwksUri: undefined, discoveryIssuer: `${server.base}/idp` });
    expect(await failure(keys, await sign(k1))).toBeInstanceOf(KeySetUnavailableError);
    expect(keys.status().last_error).toBe(`issuer ${server.base}/idp publishes no jwks_uri`);
  });

  it('does not discover over http unless allowInsecureHttp is set', async () => {
    const server = await discoveryServer();
    const keys = keySet({
      jwksUri: undefined,
      discoveryIssuer: `${server.base}/idp`,
      allowInsecureHttp: false,
    });
    expect(await failure(keys, await sign(k1))).toBeInstanceOf(KeySetUnavailableError);
    expect(server.requests).toHaveLength(0);
    expect(keys.status().last_error).toEqual(expect.any(String));
  });

  it('fails with a clear message when there is neither a jwks_uri nor an issuer', async () => {
    const keys = keySet({ jwksUri: undefined, discoveryIssuer: undefined });
    const err = await failure(keys, await sign(k1));
    expect(err).toBeInstanceOf(KeySetUnavailableError);
    expect(err.message).toContain('no jwks_uri and no issuer to discover it from');
  });
});

describe('KeySet: background refresh', () => {
  it('retries on its own while it has no keys, so readiness recovers without traffic', async () => {
    const server = await startServer();
    let up = false;
    server.routes.set('/keys', () =>
      up ? { status: 200, body: JSON.stringify(jwks(k1)) } : { status: 503, body: '{}' },
    );
    // max-age 200 ms: while keyless the retry interval is min(5 s, max-age).
    const keys = keySet({ jwksUri: `${server.base}/keys`, maxAgeMs: 200 });
    await keys.refresh();
    expect(keys.hasKeys).toBe(false);
    keys.startBackgroundRefresh();
    try {
      up = true;
      for (let i = 0; i < 50 && !keys.hasKeys; i++) await new Promise((r) => setTimeout(r, 20));
      expect(keys.hasKeys).toBe(true);
    } finally {
      keys.stop();
    }
  });

  it('makes a token that arrives during a fetch wait for it instead of failing', async () => {
    const server = await startServer();
    server.routes.set('/keys', json(jwks(k1)));
    const keys = keySet({ jwksUri: `${server.base}/keys`, cooldownMs: 60_000 });
    const fetching = keys.refresh();
    const payload = await verify(keys, await sign(k1));
    await fetching;
    expect(payload).toBeDefined();
    expect(server.hits('/keys')).toBe(1);
  });
});
