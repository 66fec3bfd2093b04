// Upstreams of the stateless era (MCP 2026-07-28): the Python SDK (mcp 2.3.0) as an
// upstream server over stdio and over Streamable HTTP (test/python/modern_server.py). The
// gateway asks server/discover first and, offered 2026-07-28, speaks it without a
// handshake: every request carries the envelope in _meta (and, over HTTP, the
// MCP-Protocol-Version, Mcp-Method and Mcp-Name headers, which the Python server checks).
// Clients of both eras use them through the gateway; a handshake-era upstream (the
// conformance fixture) keeps its handshake next to them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startFixture, type Fixture } from '../conformance/harness.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { connectClient } from './support/client.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy } from './support/policies.js';
import { freePort } from './support/ports.js';

const PYTHON = join(ROOT, '.tools/python-mcp/bin/python');
const SERVER = join(ROOT, 'test/python/modern_server.py');

let issuer: TestIssuer;
let fixture: Fixture;
let httpServer: ChildProcess;
let gateway: GatewayProcess;
let client: Client;

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`the Python server on port ${port} did not start`);
}

function textOf(result: unknown): string {
  const content = (result as { content: Array<{ type: string; text?: string }> }).content;
  return content.map((block) => block.text ?? block.type).join(' ');
}

beforeAll(async () => {
  [issuer, fixture] = await Promise.all([startIssuer(), startFixture()]);
  const port = await freePort();
  httpServer = spawn(PYTHON, [SERVER, 'http', String(port)], {
    env: { PATH: process.env.PATH ?? '', PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await listening(port);
  gateway = await startGatewayProcess({
    issuer,
    bundle: buildFixturePolicy('allow-all'),
    upstreams: {
      pystdio: { transport: 'stdio', command: PYTHON, args: [SERVER, 'stdio'] },
      pyhttp: { transport: 'http', url: `http://127.0.0.1:${port}/mcp` },
      fixture: { transport: 'http', url: fixture.url },
    },
  });
  client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
}, 60_000);

afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  httpServer?.kill('SIGTERM');
  await fixture?.stop();
  await issuer?.close();
});

describe('upstreams that speak MCP 2026-07-28', () => {
  it('lists their tools next to a handshake-era upstream', async () => {
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'pystdio__era',
        'pystdio__echo',
        'pyhttp__era',
        'pyhttp__echo',
        'fixture__test_simple_text',
      ]),
    );
  });

  it('speaks 2026-07-28 with them over stdio and Streamable HTTP', async () => {
    for (const server of ['pystdio', 'pyhttp']) {
      expect(textOf(await client.callTool({ name: `${server}__era`, arguments: {} }))).toBe(
        '2026-07-28',
      );
      const echoed = await client.callTool({ name: `${server}__echo`, arguments: { text: 'hé' } });
      expect(textOf(echoed)).toBe('echo: hé');
    }
  });

  it('keeps the handshake with a server that does not speak it', async () => {
    expect(
      textOf(await client.callTool({ name: 'fixture__test_simple_text', arguments: {} })),
    ).toContain('simple text response');
  });

  it('says in its log which revision each upstream speaks', () => {
    const connected = gateway.logs.filter((line) => line.message === 'upstream connected');
    expect(connected).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ upstream: 'pystdio', protocol: '2026-07-28' }),
        expect.objectContaining({ upstream: 'pyhttp', protocol: '2026-07-28' }),
        expect.objectContaining({ upstream: 'fixture', protocol: '2025-11-25' }),
      ]),
    );
  });
});
