// A session's Node-native transport behind a real HTTP server on loopback: each request's
// body read and parsed as the gateway's body guard would hand it on; and a raw POST to it.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeStreamableHttpTransport } from '../../../src/mcp/server/http-transport.js';

export interface TransportServer {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  close(): Promise<void>;
}

export async function serveTransport(
  transport: NodeStreamableHttpTransport,
): Promise<TransportServer> {
  const http: HttpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      void transport.handleRequest(req, res, text ? (JSON.parse(text) as unknown) : undefined);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/** A raw JSON-RPC POST in a session, with the headers a Streamable HTTP client sends. */
export function postInSession(url: string, sessionId: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId,
    },
    body: JSON.stringify(body),
  });
}
