// What a client sees of its upstreams through the gateway, end to end with the SDK client:
// tool and prompt names under each upstream's prefix (none for lab, the default for
// everything), with policy ids that stay server.name; the request _meta the upstream gets;
// resource addresses in tool results, prompt messages and reads, each of which the client
// can read back (server-everything returns resource links and embedded resources); the
// upstreams' instructions in the initialize result (the fixture policy shows them all).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { callTool, connectClient, textOf } from './support/client.js';
import {
  quickstartUpstreams,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { buildFixturePolicy, labServer } from './support/policies.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

const LAB_INSTRUCTIONS = 'Call echo before anything else.';

let issuer: TestIssuer;
let gateway: GatewayProcess;
let client: Client;

beforeAll(async () => {
  issuer = await startIssuer();
  gateway = await startGatewayProcess({
    issuer,
    bundle: buildFixturePolicy('allow-all'),
    upstreams: {
      lab: { ...labServer({ LAB_INSTRUCTIONS: LAB_INSTRUCTIONS }), prefix: '' },
      everything: quickstartUpstreams().everything,
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
  input: {
    action: string;
    tool?: { id: string; server: string; name: string };
    catalog?: Array<{ kind: string; id: string }>;
  };
  result: unknown;
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

describe('addresses in results', () => {
  const DYNAMIC = 'mcpgate://everything/demo://resource/dynamic/';

  /** Reads a URI the gateway gave out; its contents carry the same URI. */
  async function readBack(uri: string): Promise<{ uri: string; text?: unknown; blob?: unknown }> {
    const read = await client.readResource({ uri });
    expect(read.contents).toHaveLength(1);
    const [contents] = read.contents;
    expect(contents?.uri).toBe(uri);
    return contents as { uri: string; text?: unknown; blob?: unknown };
  }

  it('namespaces resource links in a tool result, and each reads back', async () => {
    const result = (await client.callTool({
      name: 'everything__get-resource-links',
      arguments: { count: 3 },
    })) as CallToolResult;
    const links = result.content.filter((c) => c.type === 'resource_link');
    expect(links).toHaveLength(3);
    for (const link of links) {
      expect(link.uri.startsWith(DYNAMIC)).toBe(true);
      const contents = await readBack(link.uri);
      expect(contents.text ?? contents.blob).toBeDefined();
    }
  });

  it('namespaces an embedded resource in a tool result, and it reads back', async () => {
    const result = (await client.callTool({
      name: 'everything__get-resource-reference',
      arguments: { resourceType: 'Text', resourceId: 2 },
    })) as CallToolResult;
    const embedded = result.content.find((c) => c.type === 'resource');
    if (embedded?.type !== 'resource') throw new Error('no embedded resource in the result');
    expect(embedded.resource.uri).toBe(`${DYNAMIC}text/2`);
    expect(String((await readBack(embedded.resource.uri)).text)).toContain('Resource 2');
  });

  it('namespaces an embedded resource in a prompt message, and it reads back', async () => {
    const prompt = await client.getPrompt({
      name: 'everything__resource-prompt',
      arguments: { resourceType: 'Text', resourceId: '3' },
    });
    const embedded = prompt.messages.map((m) => m.content).find((c) => c.type === 'resource');
    if (embedded?.type !== 'resource') throw new Error('no embedded resource in the prompt');
    expect(embedded.resource.uri).toBe(`${DYNAMIC}text/3`);
    expect(String((await readBack(embedded.resource.uri)).text)).toContain('Resource 3');
  });
});

describe('instructions', () => {
  it("gives the client the gateway's line and each upstream's instructions under its heading", () => {
    const text = client.getInstructions() ?? '';
    expect(text.startsWith("mcpgate: every request is decided by your organisation's policy")).toBe(
      true,
    );
    expect(text).toContain(
      [
        '## Instructions from upstream server "lab"',
        'Through this gateway its tools and prompts keep their own names, and its resources are addressed by their own URIs.',
        '',
        LAB_INSTRUCTIONS,
      ].join('\n'),
    );
    expect(text).toContain(
      [
        '## Instructions from upstream server "everything"',
        'Through this gateway its tools and prompts are named everything__<name>, and its resources are mcpgate://everything/<uri>.',
        '',
        '# Everything Server',
      ].join('\n'),
    );
    // In configuration order.
    expect(text.indexOf('"lab"')).toBeLessThan(text.indexOf('"everything"'));
  });

  it('logs which instructions the session was shown, as a visible decision at session/open', async () => {
    const opens = (await decisions()).filter((d) => d.input.action === 'session/open');
    const shown = opens.find((d) => d.path === 'mcp/authz/visible');
    expect(shown?.input.catalog).toEqual([
      { kind: 'instruction', id: 'lab', server: 'lab' },
      { kind: 'instruction', id: 'everything', server: 'everything' },
    ]);
    expect(shown?.result).toEqual(['everything', 'lab']);
    expect(opens.filter((d) => d.path === 'mcp/authz/decision')).toHaveLength(1);
  });
});
