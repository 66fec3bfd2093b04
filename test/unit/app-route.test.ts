// /mcp outside Express: the paths it takes over (the ones Express's app.all('/mcp')
// matched), the order of its guards (Host, Origin, authentication, body, audit back-pressure,
// endpoint; the Caller and the body handed to the endpoint explicitly), and a 500
// JSON-RPC error for anything that fails unexpectedly. Everything else still reaches Express.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Router } from 'express';
import { HostAllowList } from '../../src/http/guards/host.js';
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
  let port: number;
  const seen: string[] = [];
  const allowedHosts = new HostAllowList({
    publicUrl: 'https://gw.example.com',
    listenHost: '127.0.0.1',
    allowedHosts: ['mcpgate.internal:8080'],
  });
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
      allowedHosts,
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
    port = (server.address() as AddressInfo).port;
    allowedHosts.listening(port);
    base = `http://127.0.0.1:${port}`;
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

  /** A real request to the listener with a Host header of the test's choosing (fetch sets its own). */
  const withHost = (
    path: string,
    host: string | undefined,
  ): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer ok',
      };
      const req = request(
        { host: '127.0.0.1', port, path, method: 'POST', headers, setHost: false },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      if (host !== undefined) req.setHeader('host', host);
      req.on('error', reject);
      req.end('{"a":1}');
    });

  it.each([
    ['the listen address', () => `127.0.0.1:${port}`],
    ['another loopback name', () => `localhost:${port}`],
    ['the public URL without its default port', () => 'gw.example.com'],
    ['the public URL with its default port', () => 'GW.example.com:443'],
    ['an allowed_hosts entry', () => 'mcpgate.internal:8080'],
  ])('serves a request whose Host is %s', async (_what, host) => {
    expect(await withHost('/mcp', host())).toEqual({ status: 200, body: '{"a":1}' });
  });

  it.each([
    ['a rebinding name on the right port', () => `evil.example:${port}`],
    ['the public name on another port', () => 'gw.example.com:8443'],
    ['an allowed name on another port', () => 'mcpgate.internal:9090'],
    ['a loopback name on another port', () => `localhost:${port + 1}`],
  ])('refuses a request whose Host is %s with 421, before anything else', async (_what, host) => {
    seen.length = 0;
    const res = await withHost('/mcp', host());
    expect(res.status).toBe(421);
    expect(JSON.parse(res.body)).toEqual({
      jsonrpc: '2.0',
      error: {
        code: -32600,
        message: `Host ${JSON.stringify(host())} is not a name of this gateway; use the gateway's URL (an operator can allow other names with gateway.allowed_hosts)`,
      },
      id: null,
    });
    expect(seen).toEqual([]);
  });

  it('refuses a Host header that is not a host name with 400', async () => {
    const res = await withHost('/mcp', 'a b');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({
      error: { code: -32600, message: 'the Host header is not a host name with an optional port' },
    });
  });

  it('leaves health and metadata to any Host (probes use addresses the gateway cannot know)', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/healthz', headers: { host: 'evil.example' } })
        .on('response', (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
        .on('error', reject)
        .end();
    });
    expect(res).toBe(200);
  });
});
