// The benchmark's upstream (bench/upstream-server.mjs, a hand-written node:http MCP server)
// and its lean load-generator client (bench/lib/mcp-client.mjs) speak real Streamable HTTP
// MCP: the SDK's Client and the real MCP Inspector CLI talk to the upstream, and the lean
// client talks to both the upstream's JSON and SSE answers and to the SDK's own server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstreamScript, type UpstreamScript } from '../support/bench-upstream.js';
import { ROOT } from './support/gateway.js';

const run = promisify(execFile);
const INSPECTOR = join(ROOT, 'node_modules/.bin/mcp-inspector');

interface ToolResult {
  content: Array<{ type: string; text?: string }>;
  isError?: boolean;
}
interface LeanClient {
  sessionId: string | undefined;
  protocolVersion: string;
  serverInfo: { name: string };
  connect(): Promise<unknown>;
  callTool(name: string, args: Record<string, unknown>): Promise<ToolResult>;
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  request(method: string, params?: unknown): Promise<unknown>;
  close(): Promise<void>;
}
interface LeanModule {
  LeanMcpClient: new (
    url: string,
    options: { token?: string | null; agent: unknown; timeoutMs?: number },
  ) => LeanClient;
  makeAgent(maxSockets?: number): { destroy(): void };
}

const upstreams: UpstreamScript[] = [];

/** Starts an upstream script and resolves its MCP URL. */
async function startServer(script: string, env: Record<string, string> = {}): Promise<string> {
  const upstream = await startUpstreamScript(script, env);
  upstreams.push(upstream);
  return upstream.url;
}

let url: string;
let sseUrl: string;
let sdkUrl: string;
let lean: LeanModule;
let agent: { destroy(): void };
let home: string;

beforeAll(async () => {
  [url, sseUrl, sdkUrl] = await Promise.all([
    startServer('bench/upstream-server.mjs', { BENCH_TOOLS: '3' }),
    startServer('bench/upstream-server.mjs', { BENCH_UPSTREAM_SSE: '1' }),
    startServer('bench/upstream-sdk-server.mjs'),
  ]);
  lean = (await import(pathToFileURL(join(ROOT, 'bench/lib/mcp-client.mjs')).href)) as LeanModule;
  agent = lean.makeAgent(8);
  home = mkdtempSync(join(tmpdir(), 'mcpgate-bench-upstream-'));
});

afterAll(() => {
  agent?.destroy();
  for (const upstream of upstreams) upstream.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('bench upstream with the SDK Client', () => {
  it('initializes, lists, calls, pings and ends its session', async () => {
    const client = new Client({ name: 'bench-upstream-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(url));
    await client.connect(transport);
    expect(client.getServerVersion()?.name).toBe('bench-upstream');
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['echo', 'filler_0001', 'filler_0002']);
    expect(tools[0]?.annotations?.readOnlyHint).toBe(true);

    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi there' } });
    expect(result).toEqual({ content: [{ type: 'text', text: 'hi there' }] });
    const filler = await client.callTool({ name: 'filler_0001', arguments: { query: 'q' } });
    expect(filler.isError).toBe(true);
    await expect(client.ping()).resolves.toEqual({});
    await expect(client.listPrompts()).rejects.toThrow(/Method not found/);

    const session = transport.sessionId;
    await transport.terminateSession();
    await client.close();
    // The ended session is gone: 404 for its id.
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session ?? '',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(res.status).toBe(404);
  });

  it('answers as an event stream with BENCH_UPSTREAM_SSE=1', async () => {
    const client = new Client({ name: 'bench-upstream-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(sseUrl)));
    const result = await client.callTool({ name: 'echo', arguments: { text: 'over sse' } });
    expect(result).toEqual({ content: [{ type: 'text', text: 'over sse' }] });
    await client.close();
  });

  it('refuses calls without a session', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(400);
  });
});

describe('bench upstream with the MCP Inspector CLI', () => {
  async function inspector(args: string[]): Promise<{ code: number; stdout: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    env.npm_config_update_notifier = 'false';
    for (const key of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY']) {
      delete env[key];
    }
    const argv = ['--cli', url, '--transport', 'http', '-q', '--format', 'json', ...args];
    try {
      const { stdout } = await run(INSPECTOR, argv, { env, timeout: 30_000 });
      return { code: 0, stdout };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: `${e.stdout}${e.stderr}` };
    }
  }

  it('lists the tools', async () => {
    const { code, stdout } = await inspector(['--method', 'tools/list']);
    expect(code).toBe(0);
    const names = (
      JSON.parse(stdout) as { result: { tools: Array<{ name: string }> } }
    ).result.tools.map((t) => t.name);
    expect(names).toEqual(['echo', 'filler_0001', 'filler_0002']);
  });

  it('calls echo', async () => {
    const { code, stdout } = await inspector([
      '--method',
      'tools/call',
      '--tool-name',
      'echo',
      '--tool-arg',
      'text=from the inspector',
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('from the inspector');
  });
});

describe('lean load-generator client', () => {
  for (const [label, target] of [
    ['the bench upstream (JSON answers)', () => url],
    ['the bench upstream (SSE answers)', () => sseUrl],
    ["the SDK's server", () => sdkUrl],
  ] as const) {
    it(`handshakes, calls and ends its session against ${label}`, async () => {
      const client = new lean.LeanMcpClient(target(), { agent, token: 'not-checked' });
      await client.connect();
      expect(client.sessionId).toBeDefined();
      expect(client.protocolVersion).toBe('2025-11-25');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      const result = await client.callTool('echo', { text: 'lean' });
      expect(result.content).toEqual([{ type: 'text', text: 'lean' }]);
      await expect(client.request('ping')).resolves.toEqual({});
      await expect(client.request('prompts/list')).rejects.toThrow(/-32601/);
      await client.close();
      expect(client.sessionId).toBeUndefined();
    });
  }

  it('rejects a tool error and an ended session', async () => {
    const client = new lean.LeanMcpClient(url, { agent });
    await client.connect();
    await expect(client.callTool('filler_0001', { query: 'q' })).rejects.toThrow(/tool error/);
    const ended: LeanClient = { ...client };
    await client.close();
    Object.setPrototypeOf(ended, Object.getPrototypeOf(client) as object);
    await expect(ended.callTool('echo', { text: 'x' })).rejects.toThrow(/HTTP 404/);
  });
});
