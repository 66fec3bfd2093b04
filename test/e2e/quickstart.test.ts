// The quickstart as the README tells a newcomer to run it: the quickstart config, a token
// from `mcpgate dev-token`, and the real MCP Inspector CLI listing tools and calling one
// allowed and one denied tool.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { BIN, ROOT } from './support/gateway.js';
import { spawn, type ChildProcess } from 'node:child_process';

const run = promisify(execFile);
const INSPECTOR = join(ROOT, 'node_modules/.bin/mcp-inspector');

let dir: string;
let configFile: string;
let port: number;
let gateway: ChildProcess;
let token: string;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
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
  ])
    delete env[key];
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
  cpSync(join(ROOT, 'examples/quickstart'), dir, {
    recursive: true,
    filter: (src) => !src.includes('.state'),
  });
  port = await freePort();
  const config = parse(readFileSync(join(dir, 'mcpgate.yaml'), 'utf8')) as {
    gateway: { port: number };
    policy: { bundle: string };
    upstreams: Record<string, { command: string }>;
  };
  config.gateway.port = port;
  config.policy.bundle = join(ROOT, 'wasm/bundle.tar.gz');
  for (const upstream of Object.values(config.upstreams)) {
    upstream.command = join(ROOT, 'examples/quickstart', upstream.command);
  }
  configFile = join(dir, 'mcpgate.yaml');
  writeFileSync(configFile, stringify(config));
  gateway = spawn(process.execPath, [BIN, 'start', '--config', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    gateway.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('mcpgate listening')) resolve();
    });
    gateway.once('exit', (code) =>
      reject(new Error(`quickstart gateway exited ${String(code)}: ${seen}`)),
    );
  });
  const minted = await run(process.execPath, [
    BIN,
    'dev-token',
    '--config',
    configFile,
    '--user',
    'alice',
    '--groups',
    'engineering',
  ]);
  token = minted.stdout.trim();
});

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((r) => gateway.once('exit', r));
    gateway.kill('SIGTERM');
    await exited;
  }
});

describe('quickstart with the MCP Inspector CLI', () => {
  it('mints a dev token that is a JWT for the quickstart gateway', () => {
    expect(token.split('.')).toHaveLength(3);
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
