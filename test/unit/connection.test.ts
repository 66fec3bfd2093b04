// One upstream connection against a hand-written Streamable HTTP server that misbehaves on
// request: a result that is not a tools/call result is refused as a JSON-RPC error naming
// the field (and the connection stays up), and the call's own credential reaches the
// upstream with the call, and no longer than it is valid: an expired token is not sent on a
// reopened stream. (The outputSchema check is the pipeline's: check-output.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import { UpstreamConnection } from '../../src/upstreams/connection.js';
import { silentLogger } from '../../src/util/logger.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import { capturingLogger } from '../support/logger.js';

const TOOLS = [
  { name: 'echo', inputSchema: { type: 'object' } },
  { name: 'malformed', inputSchema: { type: 'object' } },
  {
    name: 'typed',
    inputSchema: { type: 'object' },
    outputSchema: {
      type: 'object',
      properties: { count: { type: 'number' } },
      required: ['count'],
    },
  },
];

/** What each tool answers (the `result` of the JSON-RPC response). */
function resultFor(name: string, args: Record<string, unknown>): unknown {
  switch (name) {
    case 'malformed':
      return { content: 'not a list' };
    case 'typed':
      return {
        content: [{ type: 'text', text: 'typed' }],
        structuredContent: args.good ? { count: 1 } : { count: 'one' },
      };
    default:
      return { content: [{ type: 'text', text: 'echo' }] };
  }
}

let server: Server;
let connection: UpstreamConnection;
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id?: number;
        method: string;
        params?: { name?: string; arguments?: Record<string, unknown> };
      };
      if (message.id === undefined) {
        res.writeHead(202).end();
        return;
      }
      let result: unknown;
      if (message.method === 'initialize') {
        result = {
          protocolVersion: '2025-11-25',
          capabilities: { tools: {} },
          serverInfo: { name: 'raw', version: '1' },
        };
      } else if (message.method === 'tools/list') {
        result = { tools: TOOLS };
      } else {
        result = resultFor(message.params?.name ?? '', message.params?.arguments ?? {});
      }
      res
        .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'raw-session' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  const config = parseConfig(
    {
      auth: { issuers: [{ profile: 'oidc', issuer: 'https://idp.example.com' }] },
      policy: { bundle: 'policy/bundle.tar.gz' },
      upstreams: { raw: { transport: 'http', url } },
    },
    '/srv/mcpgate/conf',
  );
  connection = new UpstreamConnection(config.upstreams[0]!, silentLogger, 'shared');
  await connection.start();
  await connection.fetchCatalog();
});

afterAll(async () => {
  await connection.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function failure(name: string, args: Record<string, unknown> = {}): Promise<RpcError> {
  const error = await connection.callTool({ name, arguments: args }, {}).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RpcError);
  return error as RpcError;
}

describe('UpstreamConnection', () => {
  it('calls with the call’s own credential headers', async () => {
    const result = await connection.callTool(
      { name: 'echo', arguments: {} },
      { headers: { authorization: 'Bearer for-this-call' } },
    );
    expect(result.content).toEqual([{ type: 'text', text: 'echo' }]);
    expect(seen.at(-1)?.authorization).toBe('Bearer for-this-call');
  });

  it('refuses a result that is not a tools/call result, naming the field, and stays up', async () => {
    const error = await failure('malformed');
    expect(error.rpcCode).toBe(-32603);
    expect(error.message).toMatch(
      /^upstream raw answered tools\/call malformed with an invalid tools\/call result: content: /,
    );
    expect(connection.state).toBe('ready');
  });

  it('passes structuredContent through as the upstream sent it (the pipeline checks it)', async () => {
    const result = await connection.callTool({ name: 'typed', arguments: { good: false } }, {});
    expect(result.structuredContent).toEqual({ count: 'one' });
  });
});

describe('UpstreamConnection: an expired call credential is never sent again', () => {
  let streams: Server;
  const requests: Array<{ method: string; authorization: string | undefined }> = [];

  beforeAll(async () => {
    // Answers initialize and calls, and ends every GET stream at once, so the transport
    // reopens it a second later, outside any call.
    streams = createServer((req, res) => {
      requests.push({ method: req.method ?? '', authorization: req.headers.authorization });
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          id?: number;
          method: string;
        };
        if (message.id === undefined) {
          res.writeHead(202).end();
          return;
        }
        const result =
          message.method === 'initialize'
            ? {
                protocolVersion: '2025-11-25',
                capabilities: { tools: {} },
                serverInfo: { name: 'streams', version: '1' },
              }
            : { content: [{ type: 'text', text: 'ok' }] };
        res
          .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'streams' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
      });
    });
    await new Promise<void>((resolve) => streams.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    streams.closeAllConnections();
    await new Promise((resolve) => streams.close(resolve));
  });

  it('does not reopen the stream with the last call’s token once it expired', async () => {
    const url = `http://127.0.0.1:${(streams.address() as AddressInfo).port}/mcp`;
    const config = parseConfig(
      {
        auth: { issuers: [{ profile: 'oidc', issuer: 'https://idp.example.com' }] },
        policy: { bundle: 'policy/bundle.tar.gz' },
        upstreams: { streams: { transport: 'http', url } },
      },
      '/srv/mcpgate/conf',
    );
    const logged: string[] = [];
    const logger = capturingLogger(logged);
    // A per-session connection: no credential of its own, only its calls' tokens.
    const session = new UpstreamConnection(config.upstreams[0]!, logger, 'session s1');
    try {
      await session.start({ authorization: 'Bearer short-lived' }, Date.now() + 500);
      const streamsWithIt = (): number =>
        requests.filter((r) => r.method === 'GET' && r.authorization === 'Bearer short-lived')
          .length;
      // Until the reopening was attempted: refused here, or sent with the expired token.
      const deadline = Date.now() + 10_000;
      while (!logged.some((l) => l.includes('has expired')) && streamsWithIt() < 2) {
        if (Date.now() > deadline) throw new Error('the stream was never reopened');
        await new Promise((r) => setTimeout(r, 20));
      }
      // At most the first opening, while the token was valid; never the reopening.
      expect(streamsWithIt()).toBeLessThanOrEqual(1);
      // The next call brings a fresh token, and is served with it.
      const result = await session.callTool(
        { name: 'echo', arguments: {} },
        { headers: { authorization: 'Bearer fresh' }, headersExpireAt: Date.now() + 60_000 },
      );
      expect(result.content).toEqual([{ type: 'text', text: 'ok' }]);
      expect(requests.at(-1)?.authorization).toBe('Bearer fresh');
    } finally {
      await session.close();
    }
  });
});
