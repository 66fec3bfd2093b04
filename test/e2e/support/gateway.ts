// Starts the gateway the way users do (`node bin/mcpgate.js start --config FILE`) as a child
// process on a free loopback port, and stops it. The config is written per test suite.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../../../..');
export const BIN = join(ROOT, 'bin/mcpgate.js');
export const POLICY_BUNDLE = join(ROOT, 'wasm/bundle.tar.gz');
export const FIXTURE_SERVERS = join(ROOT, 'dist/test/fixtures/servers');

export interface GatewayProcess {
  url: string;
  mcpUrl: string;
  dir: string;
  auditFile: string;
  /** Operational log lines (JSON objects) seen on stderr so far. */
  logs: Array<Record<string, unknown>>;
  child: ChildProcess;
  /**
   * The decision-log file once every line of the requests answered so far is in it. The
   * gateway writes decision lines in the background (docs/architecture.md#decision-log), so
   * this waits until /readyz shows nothing left to write.
   */
  auditText(): Promise<string>;
  stop(): Promise<void>;
}

/** Polls /readyz until no stdout or file destination has bytes waiting (or the gateway is gone). */
export async function decisionLogWritten(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const res = await fetch(`${url}/readyz`);
    const body = (await res.json()) as {
      decision_log?: { writers?: Array<{ buffered_bytes: number }> };
    };
    if ((body.decision_log?.writers ?? []).every((w) => w.buffered_bytes === 0)) return;
    if (Date.now() > deadline) throw new Error('the decision log did not catch up within 20 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A scratch directory with a copy of the quickstart demo folder. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-e2e-'));
  cpSync(join(ROOT, 'examples/quickstart/demo'), join(dir, 'demo'), { recursive: true });
  return dir;
}

export function quickstartUpstreams(): Record<string, unknown> {
  return {
    filesystem: {
      transport: 'stdio',
      command: join(ROOT, 'node_modules/.bin/mcp-server-filesystem'),
      args: ['.'],
      cwd: 'demo',
    },
    everything: {
      transport: 'stdio',
      command: join(ROOT, 'node_modules/.bin/mcp-server-everything'),
      args: ['stdio'],
    },
  };
}

export interface GatewayOptions {
  dir?: string;
  issuer: { issuer: string; jwksUri: string };
  upstreams?: Record<string, unknown>;
  bundle?: string;
  extra?: Record<string, unknown>;
  sessions?: Record<string, unknown>;
  gateway?: Record<string, unknown>;
  /** Extra environment for the gateway process (Jest sandboxes the test's process.env). */
  env?: Record<string, string>;
}

/** Writes the test config for these options into a scratch dir and spawns the gateway. */
function spawnGateway(options: GatewayOptions): {
  child: ChildProcess;
  dir: string;
  auditFile: string;
} {
  const dir = options.dir ?? scratchDir();
  const auditFile = join(dir, 'decisions.log');
  const config = {
    gateway: { id: 'e2e', host: '127.0.0.1', port: 0, ...options.gateway },
    sessions: { default_purpose: 'code-review', ...options.sessions },
    auth: {
      issuers: [
        {
          profile: 'oidc',
          issuer: options.issuer.issuer,
          jwks_uri: options.issuer.jwksUri,
          allow_insecure_http: true,
          // Rotation tests need an unknown kid to refetch at once.
          jwks_cooldown_s: 0,
        },
      ],
    },
    policy: { bundle: options.bundle ?? POLICY_BUNDLE },
    audit: { destinations: [{ type: 'file', path: auditFile }] },
    logging: { level: 'debug' },
    upstreams: options.upstreams ?? quickstartUpstreams(),
    ...options.extra,
  };
  const configFile = join(dir, 'mcpgate.yaml');
  writeFileSync(configFile, stringify(config));
  const child = spawn(process.execPath, [BIN, 'start', '--config', configFile], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  return { child, dir, auditFile };
}

export async function startGatewayProcess(options: GatewayOptions): Promise<GatewayProcess> {
  const { child, dir, auditFile } = spawnGateway(options);
  const logs: Array<Record<string, unknown>> = [];
  const stderrText: string[] = [];
  const url = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`gateway did not start:\n${stderrText.join('\n')}`)),
      30_000,
    );
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderrText.push(line);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.message === 'mcpgate listening') {
          clearTimeout(timer);
          // Where it listens (the public URL may name a load balancer in front of it).
          resolvePromise(String(entry.listen ?? entry.url));
        }
      } catch {
        // not a log line (an upstream's stray output)
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${String(code)}:\n${stderrText.join('\n')}`));
    });
  });
  return {
    url,
    mcpUrl: `${url}/mcp`,
    dir,
    auditFile,
    logs,
    child,
    auditText: async () => {
      await decisionLogWritten(url, child);
      return readFileSync(auditFile, 'utf8');
    },
    stop: async () => {
      // Already ended (by itself, or killed by a test).
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs the gateway expecting it to refuse to start; resolves with its exit code and stderr. */
export async function failedStart(
  options: GatewayOptions,
): Promise<{ code: number | null; stderr: string }> {
  const { child } = spawnGateway(options);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  return { code, stderr };
}
