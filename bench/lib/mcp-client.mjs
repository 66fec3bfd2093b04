// A lean MCP client for the load generator: Streamable HTTP over node:http keep-alive
// agents, one JSON-RPC message per POST, as the protocol has it. Each session performs the
// real handshake (initialize, then notifications/initialized, then its calls carry the
// Mcp-Session-Id and MCP-Protocol-Version it was given), sends the Authorization bearer when
// it has one, reads both answer forms a server may choose (application/json, or a
// text/event-stream carrying the response), checks every response (JSON-RPC 2.0, the id it
// sent, a result, no tool error, optionally the expected text) and ends with DELETE.
//
// It exists because the SDK's Client (over fetch/undici, with zod validation on every
// message) costs ~0.5 ms of CPU per call in the load generator, which capped the direct
// baseline near 1,300 calls/s on this bench's shared client core. loadgen.mjs keeps the
// SDK client as `client: 'sdk'` for reference.
import { Buffer } from 'node:buffer';
import { Agent, request } from 'node:http';
import { URL } from 'node:url';

export const PROTOCOL_VERSION = '2025-11-25';

/** One keep-alive agent per load-generator process: sockets are reused across sessions. */
export function makeAgent(maxSockets = 512) {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
}

class McpError extends Error {}

/** POSTs/DELETEs one request; resolves { status, headers, body }. */
function send(agent, url, method, headers, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers:
          body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body:
              chunks.length === 1
                ? chunks[0].toString('utf8')
                : Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new McpError(`${method} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The JSON-RPC messages of a text/event-stream body: the `data:` lines of each event,
 * joined with newlines, parsed (events without data, e.g. priming events, are skipped).
 */
export function sseMessages(text) {
  const out = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = [];
    for (const line of event.split(/\r?\n/)) {
      if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    }
    if (data.length > 0 && data.join('').trim() !== '') out.push(JSON.parse(data.join('\n')));
  }
  return out;
}

/** The response to request `id` in an HTTP answer, whichever form the server chose. */
function responseFor(res, id, what) {
  if (res.status !== 200) {
    throw new McpError(`${what}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
  }
  const type = String(res.headers['content-type'] ?? '');
  let message;
  if (type.startsWith('application/json')) {
    message = JSON.parse(res.body);
  } else if (type.startsWith('text/event-stream')) {
    message = sseMessages(res.body).find((m) => m && m.id === id && !('method' in m));
    if (message === undefined)
      throw new McpError(`${what}: no response with id ${id} in the stream`);
  } else {
    throw new McpError(`${what}: unexpected content-type "${type}"`);
  }
  if (message?.jsonrpc !== '2.0' || message.id !== id) {
    throw new McpError(`${what}: not the JSON-RPC response to id ${id}: ${res.body.slice(0, 200)}`);
  }
  if (message.error) {
    throw new McpError(`${what}: JSON-RPC error ${message.error.code}: ${message.error.message}`);
  }
  if (message.result === null || typeof message.result !== 'object') {
    throw new McpError(`${what}: response without a result object`);
  }
  return message.result;
}

export class LeanMcpClient {
  /**
   * @param {string} url the MCP endpoint
   * @param {{ token?: string|null, agent: Agent, timeoutMs?: number, clientInfo?: object }} options
   */
  constructor(url, { token, agent, timeoutMs = 10_000, clientInfo } = {}) {
    this.url = new URL(url);
    this.agent = agent;
    this.timeoutMs = timeoutMs;
    this.clientInfo = clientInfo ?? { name: 'mcpgate-bench', version: '1.0.0' };
    this.baseHeaders = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    };
    this.headers = this.baseHeaders;
    this.nextId = 1;
    this.sessionId = undefined;
    this.serverInfo = undefined;
  }

  /** initialize + notifications/initialized. */
  async connect() {
    const id = this.nextId++;
    const res = await send(
      this.agent,
      this.url,
      'POST',
      this.baseHeaders,
      JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'initialize',
        params: {
          protocolVersion: PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: this.clientInfo,
        },
      }),
      this.timeoutMs,
    );
    const result = responseFor(res, id, 'initialize');
    if (typeof result.protocolVersion !== 'string') {
      throw new McpError('initialize: no protocolVersion in the result');
    }
    this.protocolVersion = result.protocolVersion;
    this.serverInfo = result.serverInfo;
    this.capabilities = result.capabilities;
    const session = res.headers['mcp-session-id'];
    this.sessionId = typeof session === 'string' ? session : undefined;
    this.headers = {
      ...this.baseHeaders,
      'mcp-protocol-version': this.protocolVersion,
      ...(this.sessionId ? { 'mcp-session-id': this.sessionId } : {}),
    };
    const note = await send(
      this.agent,
      this.url,
      'POST',
      this.headers,
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      this.timeoutMs,
    );
    if (note.status !== 202 && note.status !== 200) {
      throw new McpError(
        `notifications/initialized: HTTP ${note.status} ${note.body.slice(0, 200)}`,
      );
    }
    return result;
  }

  /** One request; resolves its result (checked). */
  async request(method, params) {
    const id = this.nextId++;
    const body =
      params === undefined
        ? `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)}}`
        : `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${JSON.stringify(params)}}`;
    const res = await send(this.agent, this.url, 'POST', this.headers, body, this.timeoutMs);
    return responseFor(res, id, method);
  }

  /** tools/call; a result with isError, or without content, rejects. */
  async callTool(name, args) {
    const result = await this.request('tools/call', { name, arguments: args });
    if (!Array.isArray(result.content)) throw new McpError('tools/call: result without content');
    if (result.isError) {
      const text = result.content.map((c) => c.text ?? '').join(' ');
      throw new McpError(`tool error: ${text.slice(0, 200)}`);
    }
    return result;
  }

  listTools() {
    return this.request('tools/list');
  }

  /** DELETE the session (when the server gave one). */
  async close() {
    if (!this.sessionId) return;
    const res = await send(this.agent, this.url, 'DELETE', this.headers, undefined, this.timeoutMs);
    this.sessionId = undefined;
    if (res.status !== 200 && res.status !== 202 && res.status !== 204 && res.status !== 405) {
      throw new McpError(`DELETE: HTTP ${res.status}`);
    }
  }
}
