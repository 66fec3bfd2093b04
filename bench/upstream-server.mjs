#!/usr/bin/env node
// The bench's upstream: a minimal Streamable HTTP MCP server written on node:http, kept
// cheap so that it is not what limits a run (the SDK's server, bench/upstream-sdk-server.mjs,
// tops out near 1,300 calls/s on one core together with its client). It speaks the
// protocol's stateful JSON form: initialize (answered with an Mcp-Session-Id),
// notifications/initialized, ping, tools/list, tools/call; every other request is a
// JSON-RPC "method not found"; notifications and responses get 202; GET has no SSE stream
// (405); DELETE with the session id ends the session; an unknown session id is 404. One fast
// `echo` tool; BENCH_TOOLS=N makes it expose N tools in all (echo plus N-1 filler tools)
// for the catalog-size curve. test/e2e/bench-upstream.test.ts checks it with the SDK's
// Client and the MCP Inspector CLI.
//
// Environment: as bench/lib/upstream-common.mjs says (BENCH_MAX_SESSIONS defaults to
// 100000 here), and BENCH_UPSTREAM_SSE=1 (answer every request as a one-event
// text/event-stream instead of application/json). Prints one JSON line to stdout when
// listening: {"listening":"http://127.0.0.1:PORT/mcp"}.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import {
  benchTools,
  callBenchTool,
  readBody,
  sendJsonRpcError as sendError,
  serveUpstream,
  SERVER_INFO,
  upstreamSettings,
} from './lib/upstream-common.mjs';

const { port, toolCount, maxSessions, contactTool } = upstreamSettings({
  maxSessions: 100_000,
});
/** Newest first; an initialize asking for another version gets the newest. */
const PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
const SSE = process.env.BENCH_UPSTREAM_SSE === '1';

const tools = benchTools(toolCount, { contactTool });
/** tools/list's result is the same for every call: serialised once. */
const TOOLS_LIST_JSON = JSON.stringify({ tools });

/** Session id -> { protocolVersion, initialized }. */
const sessions = new Map();

const JSON_HEADERS = { 'content-type': 'application/json' };

function send(res, status, body, headers = JSON_HEADERS) {
  res.writeHead(status, headers);
  res.end(body);
}

/** The response to a request: a JSON body, or (BENCH_UPSTREAM_SSE=1) a one-event stream. */
function respond(res, messageJson, headers = JSON_HEADERS) {
  if (!SSE) return send(res, 200, messageJson, headers);
  const sseHeaders = {
    ...headers,
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
  };
  return send(res, 200, `event: message\ndata: ${messageJson}\n\n`, sseHeaders);
}

/** A JSON-RPC result; `resultJson` is already serialised. */
function sendResult(res, id, resultJson, headers = JSON_HEADERS) {
  respond(res, `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${resultJson}}`, headers);
}

function isRequest(m) {
  return (
    m !== null &&
    typeof m === 'object' &&
    m.jsonrpc === '2.0' &&
    typeof m.method === 'string' &&
    (typeof m.id === 'string' || typeof m.id === 'number')
  );
}

function isNotificationOrResponse(m) {
  return (
    m !== null &&
    typeof m === 'object' &&
    m.jsonrpc === '2.0' &&
    (('method' in m && !('id' in m)) || (!('method' in m) && ('result' in m || 'error' in m)))
  );
}

function initialize(res, message) {
  if (sessions.size >= maxSessions) {
    return sendError(res, 503, -32000, 'session limit reached', message.id);
  }
  const asked = message.params?.protocolVersion;
  const protocolVersion = PROTOCOL_VERSIONS.includes(asked) ? asked : PROTOCOL_VERSIONS[0];
  const id = randomUUID();
  sessions.set(id, { protocolVersion, initialized: false });
  const result = JSON.stringify({
    protocolVersion,
    capabilities: { tools: { listChanged: false } },
    serverInfo: SERVER_INFO,
  });
  return sendResult(res, message.id, result, { ...JSON_HEADERS, 'mcp-session-id': id });
}

function onPost(req, res, body, session, sessionId) {
  let message;
  try {
    message = JSON.parse(body);
  } catch {
    return sendError(res, 400, -32700, 'Parse error');
  }
  if (Array.isArray(message)) {
    return sendError(res, 400, -32600, 'Invalid Request: batches are not supported');
  }
  if (sessionId === undefined) {
    if (isRequest(message) && message.method === 'initialize') return initialize(res, message);
    return sendError(res, 400, -32000, 'Bad Request: no session: send initialize first');
  }
  if (isNotificationOrResponse(message)) {
    if (message.method === 'notifications/initialized') session.initialized = true;
    res.writeHead(202);
    return res.end();
  }
  if (!isRequest(message)) return sendError(res, 400, -32600, 'Invalid Request');
  switch (message.method) {
    case 'tools/call':
      return sendResult(res, message.id, JSON.stringify(callBenchTool(tools, message.params)));
    case 'tools/list':
      return sendResult(res, message.id, TOOLS_LIST_JSON);
    case 'ping':
      return sendResult(res, message.id, '{}');
    case 'initialize':
      return sendError(
        res,
        400,
        -32600,
        'Invalid Request: session already initialized',
        message.id,
      );
    default:
      return respond(
        res,
        JSON.stringify({
          jsonrpc: '2.0',
          id: message.id,
          error: { code: -32601, message: `Method not found: ${message.method}` },
        }),
      );
  }
}

const http = createServer((req, res) => {
  const path = req.url?.split('?')[0];
  if (path !== '/mcp') return sendError(res, 404, -32000, 'not found');
  const header = req.headers['mcp-session-id'];
  const sessionId = Array.isArray(header) ? header[0] : header;
  const session = sessionId === undefined ? undefined : sessions.get(sessionId);
  if (sessionId !== undefined && session === undefined) {
    req.resume();
    return sendError(res, 404, -32001, 'Session not found');
  }
  if (req.method === 'DELETE') {
    req.resume();
    if (sessionId === undefined) return sendError(res, 400, -32000, 'Bad Request: no session id');
    sessions.delete(sessionId);
    res.writeHead(200);
    return res.end();
  }
  if (req.method !== 'POST') {
    // No server-to-client stream: GET (and anything else) is not offered.
    req.resume();
    return sendError(res, 405, -32000, 'Method not allowed', null, { allow: 'POST, DELETE' });
  }
  readBody(req)
    .then((body) => {
      if (body === undefined) return sendError(res, 413, -32000, 'body too large');
      return onPost(req, res, body, session, sessionId);
    })
    .catch((err) => {
      if (!res.headersSent) sendError(res, 500, -32603, String(err?.message ?? err));
      else res.end();
    });
});

serveUpstream(http, port, () => sessions.clear());
