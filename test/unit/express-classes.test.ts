// expressClasses: node:http creates requests and responses with the Express app's own
// prototypes, so Express's per-request Object.setPrototypeOf changes nothing (see the
// module for why that matters to the GC). A real Express app on a real loopback server.
import { afterEach, describe, expect, it } from '@jest/globals';
import express, { type Express } from 'express';
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expressClasses } from '../../src/util/express-classes.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

interface Seen {
  requestProto: unknown;
  responseProto: unknown;
  isIncomingMessage: boolean;
  isServerResponse: boolean;
}

function app(): Express {
  const a = express();
  // Express's error handler prints nothing in its test environment.
  a.set('env', 'test');
  a.get('/echo', (req, res) => {
    res
      .status(201)
      .set('x-proto', req.protocol)
      .json({ q: req.query.q, host: req.get('host'), path: req.path });
  });
  return a;
}

/** Serves `a` and records each request's prototypes as node:http created them. */
async function serve(a: Express, withClasses: boolean): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = withClasses ? createServer({ ...expressClasses(a) }, a) : createServer(a);
  // Before Express's own listener: the objects as node:http made them.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    seen.push({
      requestProto: Object.getPrototypeOf(req),
      responseProto: Object.getPrototypeOf(res),
      isIncomingMessage: req instanceof IncomingMessage,
      isServerResponse: res instanceof ServerResponse,
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen };
}

describe('expressClasses', () => {
  it("creates requests and responses with the app's prototypes, which Express then keeps", async () => {
    const a = app();
    const { url, seen } = await serve(a, true);
    for (const q of ['one', 'two']) {
      const res = await fetch(`${url}/echo?q=${q}`);
      expect(res.status).toBe(201);
      expect(res.headers.get('x-proto')).toBe('http');
      expect(await res.json()).toEqual({ q, host: url.slice('http://'.length), path: '/echo' });
    }
    expect(seen).toHaveLength(2);
    for (const s of seen) {
      expect(s.requestProto).toBe(a.request);
      expect(s.responseProto).toBe(a.response);
      expect(s.isIncomingMessage).toBe(true);
      expect(s.isServerResponse).toBe(true);
    }
  });

  it('without them, node:http creates plain objects and Express swaps their prototypes', async () => {
    const a = app();
    const { url, seen } = await serve(a, false);
    expect((await fetch(`${url}/echo?q=x`)).status).toBe(201);
    expect(seen[0]?.requestProto).toBe(IncomingMessage.prototype);
    expect(seen[0]?.responseProto).toBe(ServerResponse.prototype);
  });

  it('serves 404 and errors through Express as before', async () => {
    const a = app();
    a.get('/boom', () => {
      throw new Error('boom');
    });
    const { url } = await serve(a, true);
    expect((await fetch(`${url}/missing`)).status).toBe(404);
    expect((await fetch(`${url}/boom`)).status).toBe(500);
  });
});
