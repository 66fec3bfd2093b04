// What a client sees of its upstreams through the gateway, end to end with the SDK client:
// tool and prompt names under each upstream's prefix (none for lab, the default for
// everything), with policy ids that stay server.name; the request _meta the upstream gets.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { join } from 'node:path';
import { callTool, connectClient, textOf } from './support/client.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy, labServer } from './support/policies.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
let gateway: GatewayProcess;
let client: Client;

beforeAll(async () => {
  issuer = await startIssuer();
  gateway = await startGatewayProcess({
    issuer,
    bundle: buildFixturePolicy('allow-all'),
    upstreams: {
      lab: { ...labServer(), prefix: '' },
      everything: {
        transport: 'stdio',
        command: join(ROOT, 'node_modules/.bin/mcp-server-everything'),
        args: ['stdio'],
      },
    },
  });
  client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
});

afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  await issuer?.close();
});

interface LoggedDecision {
  path: string;
  input: { action: string; tool?: { id: string; server: string; name: string } };
}

async function decisions(): Promise<LoggedDecision[]> {
  return (await gateway.auditText())
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as LoggedDecision);
}

describe('names', () => {
  it('lists an upstream without a prefix under its own names, next to prefixed ones', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).toContain('meta');
    expect(names).toContain('everything__echo');
    expect(names).not.toContain('lab__echo');
  });

  it('calls the right server by either kind of name; the policy id stays server.name', async () => {
    expect(textOf(await callTool(client, 'echo', { text: 'plain' }))).toMatch(/^echo:plain:pid=/);
    expect(textOf(await callTool(client, 'everything__echo', { message: 'ns' }))).toContain(
      'Echo: ns',
    );
    const calls = (await decisions()).filter((d) => d.input.action === 'tools/call');
    expect(calls.map((d) => d.input.tool?.id)).toEqual(
      expect.arrayContaining(['lab.echo', 'everything.echo']),
    );
  });
});

describe('request _meta', () => {
  const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const sent = {
    traceparent: TRACEPARENT,
    tracestate: 'vendor=abc',
    baggage: 'user=alice',
    'com.example/ticket': { id: 42 },
    'mcpgate/purpose': 'code-review',
  };

  const received = async (extra: Record<string, unknown> = {}): Promise<unknown> => {
    const result = await client.callTool({
      name: 'meta',
      arguments: {},
      _meta: { ...sent, ...extra },
    });
    return JSON.parse(textOf(result as CallToolResult)) as unknown;
  };

  it("reaches the upstream without the gateway's own keys; trace context passes", async () => {
    expect(await received()).toEqual({
      traceparent: TRACEPARENT,
      tracestate: 'vendor=abc',
      baggage: 'user=alice',
      'com.example/ticket': { id: 42 },
    });
  });

  it("carries the gateway's own progress token, not the client's", async () => {
    const meta = (await received({ progressToken: 'client-token' })) as Record<string, unknown>;
    expect(meta.traceparent).toBe(TRACEPARENT);
    expect(meta['mcpgate/purpose']).toBeUndefined();
    expect(typeof meta.progressToken).toBe('number');
  });
});
