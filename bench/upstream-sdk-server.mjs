#!/usr/bin/env node
// The SDK reference upstream (bench/upstream-server.mjs is the one the bench uses): a
// minimal Streamable HTTP MCP server (the SDK's own server and
// transport, stateful sessions, JSON responses) with one fast `echo` tool. BENCH_TOOLS=N
// makes it expose N tools in all (echo plus N-1 filler tools) for the catalog-size curve.
//
// Environment: BENCH_UPSTREAM_PORT (default 0: any free port), BENCH_TOOLS (default 1),
// BENCH_MAX_SESSIONS (default 20000; beyond it initialize answers 503).
// Prints one JSON line to stdout when listening: {"listening":"http://127.0.0.1:PORT/mcp"}.
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

const PORT = Number.parseInt(process.env.BENCH_UPSTREAM_PORT ?? '0', 10);
const TOOL_COUNT = Math.max(1, Number.parseInt(process.env.BENCH_TOOLS ?? '1', 10));
const MAX_SESSIONS = Number.parseInt(process.env.BENCH_MAX_SESSIONS ?? '20000', 10);
const MAX_BODY = 1024 * 1024;

const tools = [
  {
    name: 'echo',
    description: 'Returns its text argument unchanged.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
    // The code-review purpose only allows tools that declare themselves read-only.
    annotations: { readOnlyHint: true },
  },
];
for (let i = 1; i < TOOL_COUNT; i++) {
  const n = String(i).padStart(4, '0');
  tools.push({
    name: `filler_${n}`,
    description: `Filler tool ${n}: there to make the catalog larger; never called.`,
    inputSchema: {
      type: 'object',
      properties: { query: { type: 'string' }, limit: { type: 'integer' } },
      required: ['query'],
    },
    annotations: { readOnlyHint: true },
  });
}

function newSession() {
  const server = new Server(
    { name: 'bench-upstream', version: '1.0.0' },
    { capabilities: { tools: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, (req) => {
    if (req.params.name !== 'echo') {
      return {
        isError: true,
        content: [{ type: 'text', text: `not callable: ${req.params.name}` }],
      };
    }
    const text = typeof req.params.arguments?.text === 'string' ? req.params.arguments.text : '';
    return { content: [{ type: 'text', text }] };
  });
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: true,
    onsessioninitialized: (id) => sessions.set(id, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  return { server, transport };
}

const sessions = new Map();

function reply(res, status, message) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk);
  }
  return chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const http = createServer((req, res) => {
  void (async () => {
    if (!req.url?.startsWith('/mcp')) return reply(res, 404, 'not found');
    const header = req.headers['mcp-session-id'];
    const id = Array.isArray(header) ? header[0] : header;
    let body;
    if (req.method === 'POST') {
      try {
        body = await readBody(req);
      } catch (err) {
        return reply(res, 400, `bad body: ${err.message}`);
      }
    }
    if (id !== undefined) {
      const transport = sessions.get(id);
      if (!transport) return reply(res, 404, 'session not found');
      return transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return reply(res, 400, 'no session: send initialize first');
    }
    if (sessions.size >= MAX_SESSIONS) return reply(res, 503, 'session limit reached');
    const { server, transport } = newSession();
    await server.connect(transport);
    return transport.handleRequest(req, res, body);
  })().catch((err) => {
    if (!res.headersSent) reply(res, 500, String(err?.message ?? err));
    else res.end();
  });
});
http.keepAliveTimeout = 60_000;

http.listen(PORT, '127.0.0.1', () => {
  const { port } = http.address();
  process.stdout.write(`${JSON.stringify({ listening: `http://127.0.0.1:${port}/mcp` })}\n`);
});

const stop = () => {
  for (const transport of sessions.values()) void transport.close().catch(() => undefined);
  http.closeAllConnections();
  http.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
