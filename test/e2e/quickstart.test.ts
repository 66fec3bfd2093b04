// The quickstart as the README tells a newcomer to run it: the development IdP
// (`mcpgate dev-idp`, a real OpenID Provider), the quickstart config, a token from
// `mcpgate dev-token` (through the IdP's real token endpoint), and the real MCP Inspector
// CLI listing tools and calling one allowed and one denied tool.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { BIN, ROOT } from './support/gateway.js';
import { freePort } from './support/ports.js';

const run = promisify(execFile);
const INSPECTOR = join(ROOT, 'node_modules/.bin/mcp-inspector');

let dir: string;
let stateDir: string;
let port: number;
const children: ChildProcess[] = [];
let token: string;

/** Starts a CLI process and waits for a log line on stderr. */
async function startCli(args: string[], readyText: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stderr.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(readyText)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${String(code)}: ${seen}`)));
  });
  return child;
}

/** The inspector with a private HOME and no proxy variables (its bundled undici needs Node 22 for proxies). */
async function inspector(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, npm_config_update_notifier: 'false' };
  for (const key of [
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'http_proxy',
    'https_proxy',
    'ALL_PROXY',
    'all_proxy',
  ]) {
    delete env[key];
  }
  const url = `http://127.0.0.1:${port}/mcp`;
  const argv = [
    '--cli',
    url,
    '--transport',
    'http',
    '--header',
    `Authorization: Bearer ${token}`,
    '--stored-auth-only',
    '-q',
    '--format',
    'json',
    ...args,
  ];
  try {
    const { stdout, stderr } = await run(INSPECTOR, argv, { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-quickstart-'));
  stateDir = join(dir, '.state');
  cpSync(join(ROOT, 'examples/quickstart'), dir, {
    recursive: true,
    filter: (src) => !src.includes('.state'),
  });
  port = await freePort();
  const idpPort = await freePort();
  const config = parse(readFileSync(join(dir, 'mcpgate.yaml'), 'utf8')) as {
    gateway: { port: number };
    auth: { issuers: Array<{ issuer: string }> };
    policy: { bundle: string };
    upstreams: Record<string, { command: string }>;
  };
  config.gateway.port = port;
  config.auth.issuers[0]!.issuer = config.auth.issuers[0]!.issuer.replace(':8081/', `:${idpPort}/`);
  config.policy.bundle = join(ROOT, 'wasm/bundle.tar.gz');
  for (const upstream of Object.values(config.upstreams)) {
    upstream.command = join(ROOT, 'examples/quickstart', upstream.command);
  }
  const configFile = join(dir, 'mcpgate.yaml');
  writeFileSync(configFile, stringify(config));
  // The same commands scripts/quickstart.sh runs, on free ports.
  await startCli(
    [
      'dev-idp',
      '--port',
      String(idpPort),
      '--profile',
      'okta',
      '--audience',
      `http://127.0.0.1:${port}/mcp`,
      '--state-dir',
      stateDir,
    ],
    'dev IdP listening',
  );
  await startCli(['start', '--config', configFile], 'mcpgate listening');
  const minted = await run(process.execPath, [
    BIN,
    'dev-token',
    '--state-dir',
    stateDir,
    '--user',
    'alice',
    '--groups',
    'engineering',
  ]);
  token = minted.stdout.trim();
});

afterAll(async () => {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }),
  );
});

describe('quickstart with the MCP Inspector CLI', () => {
  it('mints an Okta-shaped access token through the dev IdP', () => {
    const [, payload] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      sub: 'alice',
      groups: ['engineering'],
      aud: `http://127.0.0.1:${port}/mcp`,
    });
    expect(String(claims.uid)).toMatch(/^00u/);
  });

  it('lists the tools the code-review purpose allows', async () => {
    const { code, stdout } = await inspector(['--method', 'tools/list']);
    expect(code).toBe(0);
    const names = (
      JSON.parse(stdout) as { result: { tools: Array<{ name: string }> } }
    ).result.tools.map((t) => t.name);
    expect(names).toContain('filesystem__read_text_file');
    expect(names).not.toContain('filesystem__write_file');
  });

  it('calls an allowed tool', async () => {
    const { code, stdout } = await inspector([
      '--method',
      'tools/call',
      '--tool-name',
      'filesystem__read_text_file',
      '--tool-arg',
      'path=src/app.ts',
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('Review me');
  });

  it('sees a denied tool call as a tool error with the reason (exit 5)', async () => {
    const { code, stdout } = await inspector([
      '--method',
      'tools/call',
      '--tool-name',
      'filesystem__read_text_file',
      '--tool-arg',
      'path=src/config/secrets.ts',
    ]);
    expect(code).toBe(5);
    expect(stdout).toContain('Denied by policy');
    expect(stdout).not.toContain('not-a-real-password');
  });

  it('gets exit 3 (auth required) without a valid token', async () => {
    const saved = token;
    token = 'garbage';
    try {
      const { code } = await inspector(['--method', 'tools/list']);
      expect(code).toBe(3);
    } finally {
      token = saved;
    }
  });
});
