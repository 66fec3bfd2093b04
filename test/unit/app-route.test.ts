// /mcp outside Express: the paths it takes over (the ones Express's app.all('/mcp')
// matched), the order of its guards (Origin, authentication, body, audit back-pressure,
// endpoint; the Caller and the body handed to the endpoint explicitly), and a 500
// JSON-RPC error for anything that fails unexpectedly. Everything else still reaches Express.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Router } from 'express';
import { isMcpPath, requestListener } from '../../src/http/listener.js';
import { Caller } from '../../src/identity/caller.js';
import type { Identity } from '../../src/identity/identity.js';
import type { Authenticate } from '../../src/http/guards/bearer-auth.js';
import { silentLogger } from '../../src/util/logger.js';

describe('isMcpPath', () => {
  it.each([
    ['/mcp', true],
    ['/mcp/', true],
    ['/MCP', true],
    ['/Mcp/?x=1', true],
    ['/mcp?access_token=t', true],
    ['/mcpx', false],
    ['/mcp/x', false],
    ['//mcp', false],
    ['/', false],
    ['/healthz', false],
    [undefined, false],
  ])('%s -> %s', (url, expected) => {
    expect(isMcpPath(url)).toBe(expected);
  });
});

describe('requestListener', () => {
  let server: Server;
  let base: string;
  const seen: string[] = [];
  let endpoint: 'echo' | 'throw' = 'echo';
  let auditFull = false;
  const caller = new Caller({ subject: 'u' } as Identity, '127.0.0.1', 'ok');

  beforeAll(async () => {
    const authenticate: Authenticate = (req, res) => {
      seen.push('auth');
      if (req.headers.authorization !== 'Bearer ok') {
        res.writeHead(401).end();
        return Promise.resolve(undefined);
      }
      return Promise.resolve(caller);
    };
    const listener = requestListener({
      maxBodyBytes: 100,
      maxJsonDepth: 8,
      allowedOrigins: ['https://app.example.com'],
      authenticate,
      auditGuard: (_req, res) => {
        seen.push('audit');
        if (!auditFull) return true;
        res.writeHead(503).end();
        return false;
      },
      mcp: (_req, res, who, body) => {
        seen.push('mcp');
        if (who !== caller) return Promise.reject(new Error('not the authenticated caller'));
        if (endpoint === 'throw') return Promise.reject(new Error('unexpected'));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        return Promise.resolve();
      },
      admin: Router(),
      readiness: () => ({ ready: true, detail: {} }),
      protectedResource: () => ({ resource: 'r' }),
      logger: silentLogger,
    });
    server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (path: string, body: string | Blob, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer ok',
        ...headers,
      },
      body,
    });

  it('authenticates, reads the body, then calls the endpoint with the caller', async () => {
    seen.length = 0;
    const res = await post('/MCP/', '{"a":1}');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ a: 1 });
    expect(seen).toEqual(['auth', 'audit', 'mcp']);
  });

  it('refuses at the audit guard after the body, before the endpoint', async () => {
    seen.length = 0;
    auditFull = true;
    const res = await post('/mcp', '{"a":1}');
    auditFull = false;
    expect(res.status).toBe(503);
    expect(seen).toEqual(['auth', 'audit']);
  });

  it("reads a compressed body too (body-parser, on Node's own request)", async () => {
    const res = await post('/mcp', new Blob([gzipSync('{"zipped":true}')]), {
      'content-encoding': 'gzip',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ zipped: true });
  });

  it('refuses a foreign Origin before authentication', async () => {
    seen.length = 0;
    const res = await post('/mcp', '{}', { origin: 'https://evil.example.com' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: -32600 } });
    expect(seen).toEqual([]);
  });

  it('never reads the body of a request authentication refused', async () => {
    seen.length = 0;
    const res = await post('/mcp', 'not json', { authorization: 'Bearer bad' });
    expect(res.status).toBe(401);
    expect(seen).toEqual(['auth']);
  });

  it('answers body errors as JSON-RPC errors', async () => {
    const bad = await post('/mcp', '{"a":');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: -32700 } });
    const big = await post('/mcp', JSON.stringify({ pad: 'x'.repeat(200) }));
    expect(big.status).toBe(413);
  });

  it('refuses a POST that is not JSON (415) or does not accept JSON and SSE (406), after authentication', async () => {
    seen.length = 0;
    const plain = await post('/mcp', '{}', { 'content-type': 'text/plain' });
    expect(plain.status).toBe(415);
    expect(await plain.json()).toMatchObject({ error: { code: -32000 } });
    const jsonOnly = await post('/mcp', '{}', { accept: 'application/json' });
    expect(jsonOnly.status).toBe(406);
    expect(seen).toEqual(['auth', 'auth']);
  });

  it('answers an unexpected failure with 500 and a JSON-RPC error', async () => {
    endpoint = 'throw';
    const res = await post('/mcp', '{}');
    endpoint = 'echo';
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32603, message: 'internal gateway error; the request was not processed' },
      id: null,
    });
  });

  it('leaves every other path to Express', async () => {
    seen.length = 0;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).status).toBe(200);
    expect((await post('/mcpx', '{}')).status).toBe(404);
    expect(seen).toEqual([]);
  });
});
