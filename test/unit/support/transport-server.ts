// A session's Node-native transport behind a real HTTP server on loopback: each request's
// body read and parsed as the gateway's body guard would hand it on; a session's server
// (the SDK's Server or the gateway's SessionRpc) served that way; and raw messages to it.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import {
  NodeStreamableHttpTransport,
  type HttpTransportOptions,
} from '../../../src/mcp/server/http-transport.js';

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

/** What serves a session on its transport: the SDK's Server, or the gateway's SessionRpc. */
export interface SessionServer {
  connect(transport: NodeStreamableHttpTransport): Promise<void>;
  close(): Promise<void>;
}

export interface ServedSession extends TransportServer {
  transport: NodeStreamableHttpTransport;
}

/**
 * The server connected to a new transport with these options, behind its own HTTP server;
 * `close()` closes the server, then the HTTP server.
 */
export async function serveSession(
  server: SessionServer,
  options: HttpTransportOptions,
): Promise<ServedSession> {
  const transport = new NodeStreamableHttpTransport(options);
  await server.connect(transport);
  const http = await serveTransport(transport);
  return {
    url: http.url,
    transport,
    close: async () => {
      await server.close();
      await http.close();
    },
  };
}

/** An initialize request, as a client that declares nothing sends it. */
export function initializeMessage(
  id: string | number,
  protocolVersion = '2025-11-25',
): JSONRPCMessage {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'x', version: '1' } },
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
