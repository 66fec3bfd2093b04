// Signed OPA bundles from a bundle server: the gateway polls with ETags, verifies each
// bundle's signature with the key from its config, swaps in good bundles, and refuses
// tampered, unsigned and wrongly signed ones while the current policy keeps serving.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { opaBinary } from '../../src/util/paths.js';
import { callTool, connectEngineer, textOf } from './support/client.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { addToCodeReview, copyRego, DENY_ECHO } from './support/rego-copy.js';

let issuer: TestIssuer;
let server: Server;
let current: { body: Buffer; etag: string };
const requests: Array<{ ifNoneMatch: string | undefined; status: number }> = [];
let dir: string;
let gateway: GatewayProcess;
let client: Client;

/** `opa build` of a rego/ folder, signed with the key given (or unsigned). */
function build(regoDir: string, out: string, signingKey?: string): void {
  const args = [
    'build',
    '-t',
    'wasm',
    '-e',
    'mcp/authz/decision',
    '-e',
    'mcp/authz/visible',
    '--capabilities',
    join(regoDir, 'capabilities.json'),
    '--ignore',
    'tests',
    '--ignore',
    'schema',
    '--ignore',
    'capabilities.json',
    '--revision',
    `rev-${Date.now()}`,
    '-o',
    out,
    '.',
  ];
  // Signing needs bundle mode (-b): the folder is the bundle.
  if (signingKey) args.push('--bundle', '--signing-key', signingKey, '--signing-alg', 'RS256');
  const result = spawnSync(opaBinary(), args, { cwd: regoDir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`opa build failed: ${result.stderr}${result.stdout}`);
}

function serve(path: string, etag: string): void {
  current = { body: readFileSync(path), etag };
}

async function readiness(): Promise<{
  policy: { revision?: string; refusals: number; last_refusal?: string };
}> {
  return (await (await fetch(`${gateway.url}/readyz`)).json()) as {
    policy: { revision?: string; refusals: number; last_refusal?: string };
  };
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

beforeAll(async () => {
  issuer = await startIssuer();
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-bundles-'));
  const good = await generateKeyPair('RS256', { extractable: true });
  const wrong = await generateKeyPair('RS256', { extractable: true });
  writeFileSync(join(dir, 'private.pem'), await exportPKCS8(good.privateKey));
  writeFileSync(join(dir, 'public.pem'), await exportSPKI(good.publicKey));
  writeFileSync(join(dir, 'wrong.pem'), await exportPKCS8(wrong.privateKey));
  build(join(ROOT, 'rego'), join(dir, 'v1.tar.gz'), join(dir, 'private.pem'));
  serve(join(dir, 'v1.tar.gz'), '"v1"');

  server = createServer((req, res) => {
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch === current.etag) {
      requests.push({ ifNoneMatch, status: 304 });
      res.writeHead(304, { etag: current.etag });
      res.end();
      return;
    }
    requests.push({ ifNoneMatch, status: 200 });
    res.writeHead(200, { etag: current.etag, 'content-type': 'application/gzip' });
    res.end(current.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles/mcpgate.tar.gz`;

  gateway = await startGatewayProcess({
    issuer,
    extra: {
      policy: {
        source: {
          http: { url, polling: { min_delay_s: 0.2, max_delay_s: 0.3 }, allow_insecure_http: true },
        },
        signing: {
          required: true,
          keys: [{ key_id: 'default', algorithm: 'RS256', key: `file:${join(dir, 'public.pem')}` }],
        },
      },
    },
  });
  client = await connectEngineer(gateway.mcpUrl, issuer);
});

afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await issuer?.close();
});

describe('a signed bundle from a bundle server', () => {
  it('is verified and serves; unchanged bundles are not downloaded again (ETag, 304)', async () => {
    expect(textOf(await callTool(client, 'everything__echo', { message: 'v1' }))).toContain('v1');
    await waitFor(() => Promise.resolve(requests.some((r) => r.status === 304)), 'a 304');
    expect(requests.filter((r) => r.status === 304).every((r) => r.ifNoneMatch === '"v1"')).toBe(
      true,
    );
  });

  it('swaps in a new signed bundle', async () => {
    const rego = copyRego();
    addToCodeReview(rego, DENY_ECHO);
    build(rego, join(dir, 'v2.tar.gz'), join(dir, 'private.pem'));
    serve(join(dir, 'v2.tar.gz'), '"v2"');
    await waitFor(async () => {
      const r = await callTool(client, 'everything__echo', { message: 'v2' });
      return textOf(r).includes('withdrawn');
    }, 'the v2 policy');
  });

  it.each([
    ['an unsigned bundle', 'unsigned', /not signed/],
    ['a bundle signed with another key', 'wrong-key', /signature/],
    [
      'a tampered bundle (data changed after signing)',
      'tampered',
      /hash|does not match|data\.json/,
    ],
  ])('refuses %s and keeps the current policy', async (_what, kind, reason) => {
    const before = await readiness();
    const out = join(dir, `${kind}.tar.gz`);
    if (kind === 'unsigned') build(join(ROOT, 'rego'), out);
    if (kind === 'wrong-key') build(join(ROOT, 'rego'), out, join(dir, 'wrong.pem'));
    if (kind === 'tampered') {
      build(join(ROOT, 'rego'), join(dir, 'to-tamper.tar.gz'), join(dir, 'private.pem'));
      const tar = gunzipSync(readFileSync(join(dir, 'to-tamper.tar.gz')));
      // Change one letter inside /data.json (its content starts one 512-byte header after
      // the header that names it); same length, so the tar stays valid.
      const name = tar.indexOf(Buffer.from('data.json'));
      const content = name - (name % 512) + 512;
      const at = tar.indexOf(Buffer.from('code-review'), content);
      tar.write('code-reviex', at);
      writeFileSync(out, gzipSync(tar));
    }
    serve(out, `"${kind}"`);
    await waitFor(
      async () => (await readiness()).policy.refusals > before.policy.refusals,
      `the ${kind} refusal`,
    );
    const after = await readiness();
    expect(after.policy.revision).toBe(before.policy.revision);
    expect(after.policy.last_refusal).toMatch(reason);
    expect(textOf(await callTool(client, 'everything__echo', { message: 'still v2' }))).toContain(
      'withdrawn',
    );
  });
});
