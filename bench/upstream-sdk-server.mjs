#!/usr/bin/env node
// The SDK reference upstream (bench/upstream-server.mjs is the one the bench uses): a
// minimal Streamable HTTP MCP server on the SDK's own server and transport (stateful
// sessions, JSON responses) with the same tools and tool answers as the bench upstream
// (bench/lib/upstream-common.mjs): one fast `echo`, and with BENCH_TOOLS=N, N tools in all.
//
// Environment: as bench/lib/upstream-common.mjs says (BENCH_MAX_SESSIONS defaults to 20000
// here: an SDK session costs more memory). Prints one JSON line to stdout when listening:
// {"listening":"http://127.0.0.1:PORT/mcp"}.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';
import {
  benchTools,
  callBenchTool,
  readBody,
  sendJsonRpcError,
  serveUpstream,
  SERVER_INFO,
  upstreamSettings,
} from './lib/upstream-common.mjs';

const { port, toolCount, maxSessions } = upstreamSettings({ maxSessions: 20_000 });
const tools = benchTools(toolCount);

function newSession() {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, (req) => callBenchTool(tools, req.params));
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
  sendJsonRpcError(res, status, -32000, message);
}

/** The parsed JSON-RPC message of a POST (undefined when the body is empty). */
async function readMessage(req) {
  const text = await readBody(req);
  if (text === undefined) throw new Error('body too large');
  return text === '' ? undefined : JSON.parse(text);
}

const http = createServer((req, res) => {
  void (async () => {
    if (!req.url?.startsWith('/mcp')) return reply(res, 404, 'not found');
    const header = req.headers['mcp-session-id'];
    const id = Array.isArray(header) ? header[0] : header;
    let body;
    if (req.method === 'POST') {
      try {
        body = await readMessage(req);
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
    if (sessions.size >= maxSessions) return reply(res, 503, 'session limit reached');
    const { server, transport } = newSession();
    await server.connect(transport);
    return transport.handleRequest(req, res, body);
  })().catch((err) => {
    if (!res.headersSent) reply(res, 500, String(err?.message ?? err));
    else res.end();
  });
});

serveUpstream(http, port, () => {
  for (const transport of sessions.values()) void transport.close().catch(() => undefined);
});
