// What the two bench upstreams share (bench/upstream-server.mjs on node:http, and
// bench/upstream-sdk-server.mjs on the SDK's server): their settings from the environment,
// the tool list (one fast `echo`, N-1 fillers for the catalog-size curve), what a tool call
// answers, the request body limit, JSON-RPC error replies, and how they listen, announce
// their URL and stop. Only the protocol handling differs between them.
//
// Environment: BENCH_UPSTREAM_PORT (default 0: any free port), BENCH_TOOLS (default 1),
// BENCH_MAX_SESSIONS (the default is each server's; beyond it initialize answers 503),
// BENCH_CONTACT_TOOL=1 (adds `contact`, whose result holds an e-mail address: a finding the
// gateway's result inspection labels, for the sessions of the fullpath memory figure).
import { Buffer } from 'node:buffer';

export const SERVER_INFO = { name: 'bench-upstream', version: '2.0.0' };
export const MAX_BODY_BYTES = 1024 * 1024;

function wholeNumberFromEnv(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number of at least ${min}, not "${raw}"`);
  }
  return value;
}

/** The server's settings; `maxSessions` is its default for BENCH_MAX_SESSIONS. */
export function upstreamSettings({ maxSessions }) {
  return {
    port: wholeNumberFromEnv('BENCH_UPSTREAM_PORT', 0, 0),
    toolCount: wholeNumberFromEnv('BENCH_TOOLS', 1, 1),
    maxSessions: wholeNumberFromEnv('BENCH_MAX_SESSIONS', maxSessions, 1),
    contactTool: process.env.BENCH_CONTACT_TOOL === '1',
  };
}

/** What `contact` answers: personal data (an e-mail address) the inspection finds. */
export const CONTACT_TEXT = 'The reviewer of this change is Dana Reyes, dana.reyes@example.org.';

/**
 * `echo` and toolCount-1 fillers, all read-only (the code-review purpose allows no other),
 * and `contact` when asked for.
 */
export function benchTools(toolCount, { contactTool = false } = {}) {
  const tools = [
    {
      name: 'echo',
      description: 'Returns its text argument unchanged.',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
      annotations: { readOnlyHint: true },
    },
  ];
  for (let i = 1; i < toolCount; i++) {
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
  if (contactTool) {
    tools.push({
      name: 'contact',
      description: 'Returns the contact details of the reviewer of a change.',
      inputSchema: { type: 'object', properties: { change: { type: 'string' } } },
      annotations: { readOnlyHint: true },
    });
  }
  return tools;
}

/** The result of tools/call: echo returns its text argument; any other name is a tool error. */
export function callBenchTool(tools, params) {
  const name = params?.name;
  if (name === 'echo') {
    const text = typeof params.arguments?.text === 'string' ? params.arguments.text : '';
    return { content: [{ type: 'text', text }] };
  }
  if (name === 'contact' && tools.some((t) => t.name === 'contact')) {
    return { content: [{ type: 'text', text: CONTACT_TEXT }] };
  }
  const known = tools.some((t) => t.name === name);
  return {
    isError: true,
    content: [{ type: 'text', text: known ? `not callable: ${name}` : `unknown tool: ${name}` }],
  };
}

/**
 * The request body as text, or undefined when it is over MAX_BODY_BYTES (the rest is read
 * and dropped, so the connection stays usable for the error reply).
 */
export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return resolve(undefined);
      // One chunk is the common case: no concatenation.
      resolve(
        chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'),
      );
    });
  });
}

/** A JSON-RPC error response (id null when the request could not be read). */
export function sendJsonRpcError(res, status, code, message, id = null, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
}

/**
 * Listens on 127.0.0.1:port and prints {"listening":"http://127.0.0.1:PORT/mcp"} on stdout
 * (what bench/lib/servers.mjs and the tests wait for); on SIGTERM or SIGINT runs onStop,
 * drops every connection and exits 0.
 */
export function serveUpstream(http, port, onStop) {
  // Idle sockets stay open a minute (Node's default is 5 s), so a pause between load phases
  // does not leave the client reusing a socket the server is closing.
  http.keepAliveTimeout = 60_000;
  http.listen(port, '127.0.0.1', () => {
    const { port: bound } = http.address();
    process.stdout.write(`${JSON.stringify({ listening: `http://127.0.0.1:${bound}/mcp` })}\n`);
  });
  const stop = () => {
    onStop();
    http.closeAllConnections();
    http.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
