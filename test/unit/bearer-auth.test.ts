// Bearer authentication with a real issuer and the gateway's own verifier: the Caller it
// returns for the MCP layer, and that the caller's token stays out of every serialisation
// while the credential broker can still read it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import { TokenVerifier } from '../../src/identity/verifier.js';
import { bearerAuth } from '../../src/http/guards/bearer-auth.js';
import type { Caller } from '../../src/identity/caller.js';
import { silentLogger } from '../../src/util/logger.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { postWithHeaders } from '../support/raw-http.js';

const RESOURCE = 'http://127.0.0.1/mcp';
let issuer: TestIssuer;
let server: Server;
let url: string;
let seen: { extra: Caller; keys: string[]; json: string } | undefined;

beforeAll(async () => {
  issuer = await startIssuer();
  const config = parseConfig(
    {
      auth: {
        issuers: [
          {
            profile: 'oidc',
            issuer: issuer.issuer,
            jwks_uri: issuer.jwksUri,
            allow_insecure_http: true,
          },
        ],
      },
      policy: { bundle: 'policy/bundle.tar.gz' },
      upstreams: { fs: { transport: 'stdio', command: 'node' } },
    },
    '/srv/mcpgate/conf',
  );
  const verifier = new TokenVerifier(config.auth.issuers, RESOURCE, 0, silentLogger);
  const auth = bearerAuth({
    verifier: () => verifier,
    resourceMetadataUrl: () => `${RESOURCE}/metadata`,
    requiredScopes: [],
    logger: silentLogger,
  });
  server = createServer((req, res) => {
    void auth(req, res).then((caller) => {
      if (!caller) return; // refused and answered
      seen = { extra: caller, keys: Object.keys(caller), json: JSON.stringify(caller) };
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await issuer.close();
});

describe('bearerAuth', () => {
  it("keeps the caller's token for the broker only, out of every serialisation", async () => {
    const token = await issuer.mint({ aud: RESOURCE, sub: 'carol' });
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(204);
    expect(seen?.extra.identity.subject).toBe('carol');
    expect(seen?.extra.remoteAddress).toBe('127.0.0.1');
    expect(seen?.extra.subjectToken).toBe(token);
    expect(seen?.keys).not.toContain('subjectToken');
    expect(seen?.json).not.toContain(token);
    expect(seen?.json).toContain('carol');
  });

  it('refuses a token in the query string before looking at any header', async () => {
    const token = await issuer.mint({ aud: RESOURCE });
    const res = await fetch(`${url}?x=1&access_token=${token}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('query string');
  });

  it('refuses two Authorization headers with 400, whichever comes first', async () => {
    const token = await issuer.mint({ aud: RESOURCE });
    for (const values of [
      [`Bearer ${token}`, 'junk'],
      ['junk', `Bearer ${token}`],
      [`Bearer ${token}`, `Bearer ${token}`],
    ]) {
      const res = await postWithHeaders(url, { authorization: values }, '');
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({
        error: {
          code: -32600,
          message:
            'bad request: 2 Authorization headers were sent; send exactly one, with one Bearer token',
        },
      });
      expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
    }
  });

  it('refuses an Authorization header with two credentials with 400', async () => {
    const token = await issuer.mint({ aud: RESOURCE });
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}, Bearer x` } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('more than one credential');
  });

  it('answers 503 while the gateway is starting (no verifier yet)', async () => {
    const starting = bearerAuth({
      verifier: () => undefined,
      resourceMetadataUrl: () => `${RESOURCE}/metadata`,
      requiredScopes: [],
      logger: silentLogger,
    });
    const early = createServer((req, res) => void starting(req, res));
    await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve));
    const res = await fetch(`http://127.0.0.1:${(early.address() as AddressInfo).port}/mcp`, {
      headers: { authorization: 'Bearer anything' },
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      error: { code: -32001, message: 'gateway is starting; retry shortly' },
    });
    early.closeAllConnections();
    await new Promise((resolve) => early.close(resolve));
  });
});
