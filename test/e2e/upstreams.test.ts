// Upstream behaviour through the gateway: a crash mid-call fails that call clearly while
// other upstreams keep working and the crashed one is restarted; list_changed reaches the
// client; catalog problems stop the start-up naming the culprits; per-session upstreams
// give each session its own server process (server-memory state does not leak).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { callTool, connectClient, textOf } from './support/client.js';
import { failedStart, ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { useAllowAll } from './support/allow-all.js';
import { labServer } from './support/policies.js';

const allowAll = useAllowAll();

async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  attempts = 100,
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('a crashing upstream', () => {
  let gateway: GatewayProcess;
  let client: Client;

  beforeAll(async () => {
    gateway = await startGatewayProcess({
      ...allowAll,
      upstreams: { lab: labServer(), other: labServer() },
    });
    client = await connectClient(
      gateway.mcpUrl,
      await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
    );
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
  });

  it('fails the in-flight call clearly, keeps the others serving, and comes back', async () => {
    const before = textOf(await callTool(client, 'lab__echo', { text: 'a' }));
    const crashed = await callTool(client, 'lab__crash', {});
    expect(crashed.isError).toBe(true);
    expect(textOf(crashed)).toMatch(/upstream lab disconnected during tools\/call crash/);
    expect(textOf(crashed)).toContain('may or may not have taken effect');

    // The other upstream is unaffected.
    expect(textOf(await callTool(client, 'other__echo', { text: 'b' }))).toContain('echo:b');

    // The crashed one is restarted (a new process) and serves again.
    const after = await waitFor(async () => {
      const result = await callTool(client, 'lab__echo', { text: 'c' });
      return result.isError ? undefined : textOf(result);
    }, 'the lab upstream to restart');
    expect(after).toContain('echo:c');
    expect(after.split('pid=')[1]).not.toEqual(before.split('pid=')[1]);

    const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as {
      upstreams: Array<{ name: string; state: string }>;
    };
    expect(ready.upstreams.find((u) => u.name === 'lab')?.state).toBe('ready');
  });

  it("passes an upstream's JSON-RPC error through with its code, message and data", async () => {
    const error = await client.callTool({ name: 'lab__rpc_error', arguments: { text: 'x' } }).then(
      () => undefined,
      (err: unknown) => err as { code: number; message: string; data: unknown },
    );
    expect(error?.code).toBe(-32602);
    // The SDK client prefixes "MCP error <code>:" once; the gateway must not add another.
    expect(error?.message).toBe('MCP error -32602: lab refuses text "x"');
    expect(error?.data).toEqual({ field: 'text' });
  });

  it('tells the client when an upstream tool list changes', async () => {
    const changed = new Promise<void>((resolve) => {
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve());
    });
    // Open the standalone GET stream notifications travel on: the SDK client opens it after
    // initialize; a tools/list makes sure the session is fully set up.
    await client.listTools();
    const added = textOf(await callTool(client, 'lab__add_tool', {}));
    await changed;
    const names = await waitFor(async () => {
      const { tools } = await client.listTools();
      const found = tools.map((t) => t.name);
      return found.includes(`lab__${added}`) ? found : undefined;
    }, 'the added tool to be listed');
    expect(names).toContain(`lab__${added}`);
  });
});

describe('catalog problems stop the start-up', () => {
  it('names both sides of a tool-name collision', async () => {
    const { code, stderr } = await failedStart({
      ...allowAll,
      upstreams: { lab: labServer({ LAB_DUPLICATE: '1' }) },
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain(
      'tool name collision: "lab__echo" is both lab\'s "echo" and lab\'s "echo"',
    );
  });

  it('names both servers when two upstreams without a prefix offer one name', async () => {
    const { code, stderr } = await failedStart({
      ...allowAll,
      upstreams: { lab: { ...labServer(), prefix: '' }, twin: { ...labServer(), prefix: '' } },
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain(
      'tool name collision: "echo" is both lab\'s "echo" and twin\'s "echo"; give upstreams.lab.prefix or upstreams.twin.prefix another value',
    );
  });

  it('names a tool whose name cannot be exposed', async () => {
    const { code, stderr } = await failedStart({
      ...allowAll,
      upstreams: { lab: labServer({ LAB_BAD_NAME: '1' }) },
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('tool "bad.name" of upstream lab cannot be exposed');
  });

  it('refuses an invalid config with every problem listed', async () => {
    const { code, stderr } = await failedStart({
      issuer: allowAll.issuer,
      upstreams: {
        bad_name: labServer(),
        ok: {
          transport: 'http',
          url: 'http://127.0.0.1:1/mcp',
          headers: { Authorization: 'Bearer plaintext' },
        },
      },
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('upstreams.bad_name');
    expect(stderr).toContain('upstreams.ok.headers.Authorization');
  });
});

describe('per-session upstreams', () => {
  let gateway: GatewayProcess;

  beforeAll(async () => {
    gateway = await startGatewayProcess({
      ...allowAll,
      upstreams: {
        memory: {
          transport: 'stdio',
          command: join(ROOT, 'node_modules/.bin/mcp-server-memory'),
          isolation: 'per-session',
          // Each session's child keeps its graph in that session's own scratch directory.
          env: { MEMORY_FILE_PATH: { literal: '${MCPGATE_SESSION_DIR}/memory.jsonl' } },
        },
      },
    });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it("gives each session its own server: one session cannot read the other's memory graph", async () => {
    const alice = await connectClient(
      gateway.mcpUrl,
      await allowAll.issuer.mint({ aud: gateway.mcpUrl, sub: 'alice' }),
    );
    const alice2 = await connectClient(
      gateway.mcpUrl,
      await allowAll.issuer.mint({ aud: gateway.mcpUrl, sub: 'alice' }),
    );
    const created = await callTool(alice, 'memory__create_entities', {
      entities: [
        { name: 'project-x', entityType: 'secret', observations: ['launch date 2027-01-01'] },
      ],
    });
    expect(created.isError ?? false).toBe(false);
    expect(textOf(await callTool(alice, 'memory__read_graph', {}))).toContain('project-x');
    expect(textOf(await callTool(alice2, 'memory__read_graph', {}))).not.toContain('project-x');
    // The second session can write its own graph without touching the first one's.
    await callTool(alice2, 'memory__create_entities', {
      entities: [{ name: 'project-y', entityType: 'note', observations: ['other'] }],
    });
    const first = textOf(await callTool(alice, 'memory__read_graph', {}));
    expect(first).toContain('project-x');
    expect(first).not.toContain('project-y');
    await alice.close();
    await alice2.close();
  });
});
