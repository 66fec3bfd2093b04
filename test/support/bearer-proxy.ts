// A loopback HTTP proxy that adds `Authorization: Bearer <token>` to every request and
// passes everything else through unchanged, streaming both ways: for clients that cannot
// send headers of their own (the MCP conformance suite), in front of a gateway that wants a
// token. The client's Host and Origin reach the gateway as sent, so its Host and Origin
// guards judge what the client sent; the gateway's public_url names this proxy, as it would
// name a load balancer. Listens before it has a target, so the gateway can be configured
// with the proxy's address first.
import { createServer, request, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BearerProxy {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  base: string;
  /** Where requests go (`http://host:port`) and the token they carry; until set, 503. */
  setTarget(target: string, token: string): void;
  close(): Promise<void>;
}

/** Headers that belong to one connection, not to the message (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

export async function startBearerProxy(): Promise<BearerProxy> {
  let target: URL | undefined;
  let token = '';
  const server = createServer((req, res) => {
    if (!target) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('bearer proxy: no target yet');
      return;
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && name !== 'authorization') headers[name] = value;
    }
    headers.authorization = `Bearer ${token}`;
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        const back: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (!HOP_BY_HOP.has(name) && value !== undefined) back[name] = value;
        }
        res.writeHead(answer.statusCode ?? 502, back);
        // Event streams are written through as they arrive.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`bearer proxy: ${err.message}`);
      } else res.destroy();
    });
    // A client that goes away (a cancelled request's stream) takes its upstream request along.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    setTarget: (to, bearer) => {
      target = new URL(to);
      token = bearer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
