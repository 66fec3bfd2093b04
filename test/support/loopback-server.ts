// A real HTTP server on 127.0.0.1 for the peers a test plays (a JWKS endpoint, issuer
// metadata, a membership API, a token endpoint): its routes can be changed while a test
// runs, may answer later (a promise), and it records every request with its body so a test
// can say what was (or was not) fetched or sent.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface SeenRequest {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** The request body as text ('' for none). */
  body: string;
}

/** Called per request, so a route can answer differently as the test goes on. */
export type Route = (request: SeenRequest) => Reply | Promise<Reply>;

export interface LoopbackServer {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  base: string;
  /** Exact request paths (query included) to their answers; any other path is a JSON 404. */
  routes: Map<string, Route>;
  requests: SeenRequest[];
  hits(path: string): number;
  /** Drops open connections and stops listening; calling it again does nothing. */
  close(): Promise<void>;
}

export async function startLoopbackServer(): Promise<LoopbackServer> {
  const routes = new Map<string, Route>();
  const requests: LoopbackServer['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen: SeenRequest = {
        path: req.url ?? '',
        method: req.method ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(seen);
      const route = routes.get(seen.path);
      const notFound: Reply = { status: 404, body: '{"error":"not found"}' };
      void Promise.resolve(route ? route(seen) : notFound)
        .catch((err: unknown): Reply => ({
          status: 500,
          body: JSON.stringify({ error: String(err) }),
        }))
        .then((reply) => {
          res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          res.end(reply.body);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed = false;
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    routes,
    requests,
    hits: (path) => requests.filter((r) => r.path === path).length,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A route answering `value` as JSON with `status`. */
export function json(value: unknown, status = 200): Route {
  return () => ({ status, body: JSON.stringify(value) });
}
