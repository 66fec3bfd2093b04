// One upstream connection against a hand-written Streamable HTTP server that misbehaves on
// request: a result that is not a tools/call result is refused as a JSON-RPC error naming
// the field (and the connection stays up), and the call's own credential reaches the
// upstream with the call. (The outputSchema check is the pipeline's: check-output.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import { UpstreamConnection } from '../../src/upstreams/connection.js';
import { silentLogger } from '../../src/util/logger.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';

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
