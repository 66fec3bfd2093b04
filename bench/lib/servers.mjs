// The processes under test and their neighbours: mcpgate (started as users start it,
// `node bin/mcpgate.js start --config FILE`), the bench upstream, an OPA server and a
// redis-server. Each listens on loopback only and is pinned to a core where possible.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Redis } from 'ioredis';
import { freePort, pinning, spawnPinned, stopChild, tailLines, waitForLine } from './procs.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/mcpgate.js');
export const BUNDLE = join(ROOT, 'wasm/bundle.tar.gz');
export const REGO = join(ROOT, 'rego');
export const OPA = process.env.MCPGATE_OPA ?? join(ROOT, '.tools/bin/opa');
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
/** The rego/ entries `mcpgate policy build` leaves out of the bundle (tooling, not policy). */
export const NON_POLICY_ENTRIES = ['tests', 'schema', 'capabilities.json'];

/** A scratch directory for one run's configs, decision logs and profiles. */
export function scratch(prefix = 'mcpgate-bench-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * The configuration the bench starts mcpgate with: one OIDC issuer (the bench's JWKS), the
 * policy bundle (the shipped one unless `bundle` names another), decisions logged to
 * `auditFile`, the given upstreams and sessions settings.
 */
export function mcpgateConfig({
  issuer,
  upstreams,
  sessions = {},
  guardrails,
  bundle = BUNDLE,
  auditFile,
  logLevel = 'info',
  telemetry,
}) {
  return {
    gateway: { id: 'bench', host: '127.0.0.1', port: 0 },
    // Every bench session belongs to one user: the per-user cap stays on (its store work is
    // measured) but high enough for the memory section's thousands of sessions.
    sessions: {
      default_purpose: 'code-review',
      max_sessions_per_principal: 1_000_000,
      ...sessions,
    },
    auth: {
      issuers: [
        {
          profile: 'oidc',
          issuer: issuer.issuer,
          jwks_uri: issuer.jwksUri,
          allow_insecure_http: true,
        },
      ],
    },
    policy: { bundle },
    // BENCH_AUDIT_ACCEPT=queued|written: when a decision line counts as accepted (default:
    // the gateway's, written), to measure what waiting for the write costs.
    audit: {
      destinations: [
        {
          type: 'file',
          path: auditFile,
          ...(process.env.BENCH_AUDIT_ACCEPT ? { accept: process.env.BENCH_AUDIT_ACCEPT } : {}),
        },
      ],
    },
    logging: { level: logLevel },
    ...(telemetry === undefined ? {} : { telemetry }),
    upstreams,
    ...(guardrails === undefined ? {} : { guardrails }),
  };
}

/** Writes mcpgateConfig(options) as YAML to `file`. */
export async function writeMcpgateConfig(file, options) {
  await writeFile(file, stringify(mcpgateConfig(options)));
}

/**
 * Starts mcpgate with a generated config (mcpgateConfig). `nodeArgs` go before the script
 * (e.g. --cpu-prof); `env` is added to the environment.
 */
export async function startMcpgate({
  issuer,
  upstreams,
  sessions = {},
  guardrails,
  bundle = BUNDLE,
  dir,
  nodeArgs = [],
  logLevel = 'info',
  env = {},
  telemetry,
}) {
  // A scratch directory made here is removed on stop; one passed in belongs to the caller.
  const ownDir = dir === undefined;
  dir ??= scratch();
  mkdirSync(dir, { recursive: true });
  const auditFile = join(dir, 'decisions.log');
  const configFile = join(dir, 'mcpgate.yaml');
  await writeMcpgateConfig(configFile, {
    issuer,
    upstreams,
    sessions,
    guardrails,
    bundle,
    auditFile,
    logLevel,
    telemetry,
  });
  // BENCH_GATEWAY_NODE_ARGS (space-separated) adds Node flags to every gateway of the run,
  // for diagnosis: e.g. --trace-gc, or --import ./bench/tools/stall-probe.mjs.
  const extraNodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawnPinned(
    pinning.serverCore,
    process.execPath,
    [...extraNodeArgs, ...nodeArgs, BIN, 'start', '--config', configFile],
    // BENCH_GATEWAY_STDOUT=1 shows the gateway's stdout (e.g. with nodeArgs ['--trace-gc']).
    {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', process.env.BENCH_GATEWAY_STDOUT === '1' ? 'inherit' : 'ignore', 'pipe'],
    },
  );
  const tail = tailLines(child.stderr);
  const url = await waitForLine(
    child,
    child.stderr,
    (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.message === 'mcpgate listening') return String(entry.listen ?? entry.url);
      } catch {
        // not a log line
      }
      return undefined;
    },
    30_000,
    'mcpgate',
    tail,
  );
  return {
    pid: child.pid,
    url,
    mcpUrl: `${url}/mcp`,
    dir,
    auditFile,
    tail,
    child,
    stop: async () => {
      await stopChild(child, 10_000);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The upstream scripts: the lean node:http one the bench uses, and the SDK's for reference. */
export const UPSTREAMS = {
  lean: 'bench/upstream-server.mjs',
  sdk: 'bench/upstream-sdk-server.mjs',
};

/**
 * The bench upstream (bench/upstream-server.mjs, or `impl: 'sdk'`) exposing `tools` tools in
 * all; `env` adds settings (e.g. BENCH_CONTACT_TOOL).
 */
export async function startUpstream({
  tools = 1,
  core = pinning.clientCore,
  impl = 'lean',
  env = {},
} = {}) {
  const script = UPSTREAMS[impl];
  if (!script) throw new Error(`unknown upstream "${impl}" (one of ${Object.keys(UPSTREAMS)})`);
  const child = spawnPinned(core, process.execPath, [join(ROOT, script)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, BENCH_TOOLS: String(tools) },
  });
  const tail = tailLines(child.stderr);
  const url = await waitForLine(
    child,
    child.stdout,
    (line) => {
      try {
        return JSON.parse(line).listening;
      } catch {
        return undefined;
      }
    },
    15_000,
    'bench upstream',
    tail,
  );
  child.stdout.resume();
  return { pid: child.pid, url, tools, impl, child, stop: () => stopChild(child) };
}

/**
 * `opa run --server` on the rego/ folder (without the tooling entries, as `mcpgate policy
 * build` leaves them out), on a loopback port; resolves once /health answers 200.
 */
export async function startOpaServer({ core = pinning.serverCore } = {}) {
  if (!existsSync(OPA)) throw new Error(`OPA CLI not found at ${OPA} (run scripts/install-opa.sh)`);
  const port = await freePort();
  const args = [
    'run',
    '--server',
    '--addr',
    `127.0.0.1:${port}`,
    '--log-level',
    'error',
    ...NON_POLICY_ENTRIES.flatMap((entry) => ['--ignore', entry]),
    REGO,
  ];
  const child = spawnPinned(core, OPA, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = tailLines(child.stderr);
  tailLines(child.stdout);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`opa run exited:\n${tail.join('\n')}`);
    try {
      const res = await globalThis.fetch(`${url}/health`);
      await res.text();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`opa run did not become healthy within 20 s:\n${tail.join('\n')}`);
    }
    await sleep(50);
  }
  return { pid: child.pid, url, args, child, stop: () => stopChild(child) };
}

/** A redis-server on a loopback port without persistence; resolves once it answers PING. */
export async function startRedis({ core = pinning.serverCore } = {}) {
  if (!existsSync(REDIS_SERVER)) throw new Error(`redis-server not found at ${REDIS_SERVER}`);
  const port = await freePort();
  const dir = scratch('mcpgate-bench-redis-');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawnPinned(core, REDIS_SERVER, [...args, '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = tailLines(child.stdout);
  tailLines(child.stderr, 60);
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  // Refused connects while redis-server starts are expected; the loop below retries.
  client.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') break;
    } catch {
      client.disconnect();
    }
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${tail.join('\n')}`);
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`redis-server did not answer PING within 10 s:\n${tail.join('\n')}`);
    }
    await sleep(50);
  }
  return {
    pid: child.pid,
    url: `redis://127.0.0.1:${port}`,
    client,
    /** INFO memory's used_memory, in bytes. */
    async usedMemory() {
      const info = await client.info('memory');
      const match = /^used_memory:(\d+)/m.exec(info);
      return match ? Number(match[1]) : null;
    },
    async version() {
      const info = await client.info('server');
      return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
    },
    async stop() {
      client.disconnect();
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The .cpuprofile files a `node --cpu-prof --cpu-prof-dir DIR` process wrote. */
export function cpuProfiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(dir, name));
}
