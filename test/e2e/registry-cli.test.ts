// `mcpgate registry add` and `mcpgate registry verify` against real upstreams: the hostile
// stdio fixture (registered, then reporting another serverInfo), an unregistered one, and a
// real HTTPS MCP server with a certificate made here by openssl, whose public key is pinned
// and then checked on the TLS connection itself.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from './support/cli.js';
import { FIXTURE_SERVERS, ROOT } from './support/gateway.js';

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { env: { ...process.env, ...env } });

const dir = mkdtempSync(join(tmpdir(), 'mcpgate-registry-'));
const certFile = join(dir, 'cert.pem');
const keyFile = join(dir, 'key.pem');
let server: Server;
let url: string;

beforeAll(async () => {
  const made = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
  // A Streamable HTTP MCP server in a few lines: JSON answers, no session.
  server = createServer(
    { cert: readFileSync(certFile), key: readFileSync(keyFile) },
    (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method !== 'POST') return void res.writeHead(405).end();
        const message = JSON.parse(body) as { id?: number; method: string };
        if (message.id === undefined) return void res.writeHead(202).end();
        const result =
          message.method === 'initialize'
            ? {
                protocolVersion: '2025-06-18',
                capabilities: { tools: {} },
                serverInfo: { name: 'tls-server', version: '3.1' },
              }
            : { tools: [] };
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

function configWith(upstreams: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(dir, 'cfg-')), 'mcpgate.yaml');
  writeFileSync(
    file,
    stringify({
      auth: { issuers: [{ profile: 'oidc', issuer: 'https://idp.example.com' }] },
      policy: { bundle: join(ROOT, 'wasm/bundle.tar.gz') },
      upstreams,
    }),
  );
  return file;
}

const hostile = (serverInfo: string): Record<string, unknown> => ({
  transport: 'stdio',
  command: process.execPath,
  args: [join(FIXTURE_SERVERS, 'rug-pull-server.js')],
  env: { HOSTILE_TOOLS: { literal: 'weather' }, HOSTILE_SERVER_INFO: { literal: serverInfo } },
});

describe('mcpgate registry', () => {
  it('registers a stdio upstream and refuses it once it reports another serverInfo, or an unregistered one', async () => {
    const registry = join(dir, 'stdio-registry.json');
    const honest = configWith({ hostile: hostile('hostile@1.0.0') });
    const added = await cli([
      'registry',
      'add',
      'hostile',
      '--config',
      honest,
      '--registry',
      registry,
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(
      /^registered hostile: .*rug-pull-server\.js \(sha256 [0-9a-f]{16}…\); serverInfo hostile 1\.0\.0$/m,
    );
    expect(
      (await cli(['registry', 'verify', '--config', honest, '--registry', registry])).stdout,
    ).toContain('OK       hostile: hostile 1.0.0');

    const impostor = configWith({
      hostile: hostile('secure-filesystem-server@0.2.0'),
      extra: hostile('hostile@1.0.0'),
    });
    const verify = await cli(['registry', 'verify', '--config', impostor, '--registry', registry]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(
      'REFUSED  hostile: upstream hostile is unavailable: cannot connect: refused by the upstream registry: upstream hostile reports serverInfo secure-filesystem-server 0.2.0; the registry expects hostile 1.0.0',
    );
    expect(verify.stdout).toContain(
      'REFUSED  extra: upstream extra is not in the upstream registry of the policy in force; register it with `mcpgate registry add extra`',
    );
    expect(verify.stdout).toContain('0 of 2 upstreams match the registry');
  });

  it("pins an https upstream's public key and refuses a certificate with another key", async () => {
    const registry = join(dir, 'tls-registry.json');
    const config = configWith({ web: { transport: 'http', url } });
    const trust = { NODE_EXTRA_CA_CERTS: certFile };
    const added = await cli(
      ['registry', 'add', 'web', '--pin-key', '--config', config, '--registry', registry],
      trust,
    );
    expect(added.code).toBe(0);
    const entry = (
      JSON.parse(readFileSync(registry, 'utf8')) as {
        upstreams: { web: { url: string; spki_sha256: string[]; server_info: unknown } };
      }
    ).upstreams.web;
    expect(entry).toMatchObject({ url, server_info: { name: 'tls-server', version: '3.1' } });
    expect(Buffer.from(entry.spki_sha256[0] ?? '', 'base64')).toHaveLength(32);
    expect(
      (await cli(['registry', 'verify', '--config', config, '--registry', registry], trust)).code,
    ).toBe(0);

    // Another pinned key: the TLS connection itself is refused.
    const other = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(
      registry,
      JSON.stringify({ upstreams: { web: { ...entry, spki_sha256: [other] } } }),
    );
    const refused = await cli(
      ['registry', 'verify', '--config', config, '--registry', registry],
      trust,
    );
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(
      `upstream web presented a certificate whose public key (SPKI SHA-256 ${entry.spki_sha256[0]}) is not pinned in the registry`,
    );
  });
});
