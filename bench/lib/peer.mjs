// The peer gateway: an open-source MCP gateway fronting the same bench upstream, measured
// with the same load generator and client as mcpgate. The peer is IBM's ContextForge
// (PyPI mcp-contextforge-gateway: a FastAPI gateway that federates Streamable HTTP MCP
// servers and serves "virtual servers" over Streamable HTTP). It is installed at bench
// time into a project-local virtualenv (bench/.peer/, git-ignored), never by the gateway.
// Go candidates are probed too and recorded: their modules are refused by the Go module
// proxy reachable here. Every attempt and its output is kept for the report; a peer that
// cannot be installed or started is reported "not run" with why, never estimated.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, pinning, spawnPinned, stopChild, tailLines } from './procs.mjs';

/** Go MCP gateways tried with `go install` (recorded; none is driven yet). */
export const GO_CANDIDATES = [
  { name: 'MCPJungle', module: 'github.com/mcpjungle/mcpjungle@latest' },
  { name: 'Unla', module: 'github.com/amoylab/unla/cmd/mcp-gateway@latest' },
  { name: 'TBXark mcp-proxy', module: 'github.com/TBXark/mcp-proxy@latest' },
  { name: 'Docker MCP Gateway', module: 'github.com/docker/mcp-gateway/cmd/docker-mcp@latest' },
];

/** The peer that is installed and driven. */
export const CONTEXTFORGE = {
  name: 'ContextForge',
  package: 'mcp-contextforge-gateway',
  // The newest release that installs on this machine's Python (3.11); pinned so runs compare.
  version: process.env.BENCH_CONTEXTFORGE_VERSION ?? '1.0.7.post20260921',
  // Its guardrail plugins (PyPI, the CPEX plugin framework): PII filter and secrets detection.
  // Their newest releases (0.3.9, 0.3.14) need mcp >= 2, which this ContextForge refuses
  // (mcp < 2): these are the newest that install next to it, with the CPEX it ships.
  plugins: [
    {
      name: 'PIIFilterPlugin',
      package: 'cpex-pii-filter',
      version: '0.3.8',
      kind: 'cpex_pii_filter.pii_filter.PIIFilterPlugin',
    },
    {
      name: 'SecretsDetection',
      package: 'cpex-secrets-detection',
      version: '0.3.13',
      kind: 'cpex_secrets_detection.secrets_detection.SecretsDetectionPlugin',
    },
  ],
  constraints: ['mcp>=1.28.1,<2', 'cpex==0.1.3'],
};

/** Every package of the install, pinned: ContextForge and its plugins. */
const installSpecs = () => [
  `${CONTEXTFORGE.package}==${CONTEXTFORGE.version}`,
  ...CONTEXTFORGE.plugins.map((p) => `${p.package}==${p.version}`),
  ...CONTEXTFORGE.constraints,
];

function clip(text, max = 600) {
  const t = String(text ?? '').trim();
  return t.length > max ? `${t.slice(0, max)} …` : t;
}

function attempt(name, command, result, started, extra = {}) {
  return {
    name,
    command,
    exitCode: result.status,
    timedOut: result.error?.code === 'ETIMEDOUT',
    seconds: Math.round((Date.now() - started) / 100) / 10,
    output: clip(
      `${result.stderr ?? ''}${result.stdout ?? ''}${result.error ? ` ${result.error.message}` : ''}`,
    ),
    ...extra,
  };
}

/** Tries `go install` for each Go candidate into a scratch GOBIN (removed after). */
export function probeGoCandidates({ timeoutMs = 120_000 } = {}) {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0)
    return [
      {
        name: 'Go toolchain',
        command: 'go version',
        exitCode: go.status,
        output: 'no Go toolchain',
      },
    ];
  return GO_CANDIDATES.map((candidate) => {
    const bin = mkdtempSync(join(tmpdir(), 'mcpgate-bench-peer-'));
    const started = Date.now();
    const result = spawnSync('go', ['install', candidate.module], {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, GOBIN: bin, GOFLAGS: '-buildvcs=false' },
    });
    const binaries = result.status === 0 ? readdirSync(bin) : [];
    rmSync(bin, { recursive: true, force: true });
    return attempt(candidate.name, `go install ${candidate.module}`, result, started, { binaries });
  });
}

/**
 * Installs ContextForge into `dir` (a virtualenv) unless that version is already there.
 * Resolves { ok, bin, python, attempts }.
 */
export function installContextForge(dir, { timeoutMs = 600_000, python = 'python3' } = {}) {
  const attempts = [];
  const venvPython = join(dir, 'bin/python');
  const bin = join(dir, 'bin/mcpgateway');
  const specs = installSpecs();
  const spec = specs.join(' ');
  if (existsSync(bin)) {
    const wanted = [CONTEXTFORGE, ...CONTEXTFORGE.plugins];
    const show = spawnSync(venvPython, ['-m', 'pip', 'show', ...wanted.map((p) => p.package)], {
      encoding: 'utf8',
    });
    const installed = (p) =>
      new RegExp(`^Name: ${p.package}\\s+Version: ${p.version.replaceAll('.', '\\.')}$`, 'm').test(
        show.stdout,
      );
    if (show.status === 0 && wanted.every(installed)) {
      return {
        ok: true,
        bin,
        python: venvPython,
        attempts: [
          {
            name: CONTEXTFORGE.name,
            command: `(already installed) ${spec}`,
            exitCode: 0,
            seconds: 0,
            output: '',
          },
        ],
      };
    }
  }
  mkdirSync(dir, { recursive: true });
  let started = Date.now();
  const venv = spawnSync(python, ['-m', 'venv', '--clear', dir], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  attempts.push(attempt(CONTEXTFORGE.name, `${python} -m venv ${dir}`, venv, started));
  if (venv.status !== 0) return { ok: false, attempts };
  started = Date.now();
  const pip = spawnSync(
    venvPython,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', ...specs],
    { encoding: 'utf8', timeout: timeoutMs },
  );
  attempts.push(attempt(CONTEXTFORGE.name, `pip install ${spec}`, pip, started));
  return { ok: pip.status === 0 && existsSync(bin), bin, python: venvPython, attempts };
}

async function api(base, token, method, path, body) {
  const res = await globalThis.fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok)
    throw new Error(`ContextForge ${method} ${path}: HTTP ${res.status} ${clip(text, 300)}`);
  return JSON.parse(text);
}

/**
 * Starts ContextForge (one uvicorn worker, pinned to the gateway's core) with a scratch
 * SQLite database, registers `upstreamUrl` as a Streamable HTTP gateway, and creates a
 * virtual server holding its echo tool. Resolves { pid, mcpUrl, token, tool, stop }.
 *
 * Settings: JWT bearer auth required (HS256, as mcpgate verifies a bearer per request),
 * rate limiting off (its default allows 100 tool calls a minute), admin UI off,
 * localhost upstreams allowed (SSRF guard), in-memory cache, log level ERROR.
 */
export async function startContextForge({
  install,
  upstreamUrl,
  core = pinning.serverCore,
  startTimeoutMs = 240_000,
  plugins = false,
}) {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-bench-contextforge-'));
  const pluginEnv = {};
  if (plugins) {
    // Both plugins on tool calls, before (arguments) and after (results), in their default
    // configuration: the PII filter masks what it finds, secrets detection blocks.
    const config = join(dir, 'plugins.yaml');
    writeFileSync(
      config,
      [
        'plugins:',
        ...CONTEXTFORGE.plugins.flatMap((p, i) => [
          `  - name: ${p.name}`,
          `    kind: ${p.kind}`,
          '    hooks: [tool_pre_invoke, tool_post_invoke]',
          '    mode: sequential',
          `    priority: ${(i + 1) * 10}`,
        ]),
        '',
      ].join('\n'),
    );
    Object.assign(pluginEnv, { PLUGINS_ENABLED: 'true', PLUGINS_CONFIG_FILE: config });
  }
  const port = await freePort();
  const secret = `bench-${Date.now()}-jwt-secret-0123456789abcdef0123456789`;
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `sqlite:///${join(dir, 'contextforge.db')}`,
    JWT_SECRET_KEY: secret,
    JWT_ALGORITHM: 'HS256',
    AUTH_REQUIRED: 'true',
    BASIC_AUTH_PASSWORD: 'bench-Basic-Pass-1!',
    PLATFORM_ADMIN_EMAIL: 'admin@example.com',
    PLATFORM_ADMIN_PASSWORD: 'bench-Admin-Pass-1!',
    MCPGATEWAY_UI_ENABLED: 'false',
    MCPGATEWAY_ADMIN_API_ENABLED: 'true',
    RATE_LIMITING_ENABLED: 'false',
    // Stateful sessions (as mcpgate): each client session keeps one upstream session; the
    // default (stateless) opens and closes an upstream MCP session for every call.
    USE_STATEFUL_SESSIONS: 'true',
    SSRF_ALLOW_LOCALHOST: 'true',
    CACHE_TYPE: 'memory',
    REDIS_URL: '',
    DEV_MODE: 'true',
    LOG_LEVEL: 'ERROR',
    ...pluginEnv,
  };
  const child = spawnPinned(core, install.bin, ['--host', '127.0.0.1', '--port', String(port)], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = tailLines(child.stderr, 40);
  tailLines(child.stdout, 20);
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child, 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`ContextForge exited at start-up:\n${tail.join('\n')}`);
      try {
        const res = await globalThis.fetch(`${base}/health`);
        await res.text();
        if (res.status === 200) break;
      } catch {
        // not listening yet (first start runs its database migrations)
      }
      if (Date.now() > deadline)
        throw new Error(
          `ContextForge not healthy within ${startTimeoutMs} ms:\n${tail.join('\n')}`,
        );
      await sleep(250);
    }
    const minted = spawnSync(
      install.python,
      [
        '-m',
        'mcpgateway.utils.create_jwt_token',
        '-u',
        'admin@example.com',
        '--admin',
        '-e',
        '240',
        '--secret',
        secret,
        '--algo',
        'HS256',
      ],
      { encoding: 'utf8', env, cwd: dir, timeout: 60_000 },
    );
    const token = minted.stdout.trim().split('\n').pop();
    if (minted.status !== 0 || !token)
      throw new Error(`minting a ContextForge token failed: ${clip(minted.stderr)}`);
    await api(base, token, 'POST', '/gateways', {
      name: 'bench',
      url: upstreamUrl,
      transport: 'STREAMABLEHTTP',
    });
    const tools = await api(base, token, 'GET', '/tools');
    const echo = tools.find((t) => t.originalName === 'echo');
    if (!echo)
      throw new Error(
        `ContextForge did not discover the upstream's echo tool: ${clip(JSON.stringify(tools), 300)}`,
      );
    const server = await api(base, token, 'POST', '/servers', {
      server: { name: 'bench-server', associated_tools: [echo.id] },
    });
    const pluginCheck = plugins ? await checkPlugins(base, token, echo.name) : undefined;
    return {
      pid: child.pid,
      url: base,
      pluginCheck,
      mcpUrl: `${base}/servers/${server.id}/mcp`,
      token,
      tool: echo.name,
      tail,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Proves the plugins run: an e-mail address echoed back must come back masked (PII filter),
 * and an AWS access key id in the arguments must be refused (secrets detection).
 */
async function checkPlugins(base, token, tool) {
  const call = async (text) => {
    const res = await globalThis.fetch(`${base}/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: tool, arguments: { text } },
      }),
    });
    return `${res.status} ${await res.text()}`;
  };
  const pii = await call('write to alice@example.com');
  if (pii.includes('alice@example.com') || !pii.startsWith('200')) {
    throw new Error(`the PII filter plugin did not mask an e-mail address: ${clip(pii, 300)}`);
  }
  const secret = await call(`key ${['AKIA', 'IOSFODNN7', 'EXAMPLE'].join('')}`);
  if (!/SECRETS_DETECTED/.test(secret)) {
    throw new Error(`the secrets detection plugin let an AWS key through: ${clip(secret, 300)}`);
  }
  return { pii: clip(pii, 300), secret: clip(secret, 300) };
}

/** The installed version's `pip show` line, for the report. */
export function installedVersion(install) {
  const show = spawnSync(install.python, ['-m', 'pip', 'show', CONTEXTFORGE.package], {
    encoding: 'utf8',
  });
  return /^Version: (\S+)/m.exec(show.stdout ?? '')?.[1] ?? null;
}
