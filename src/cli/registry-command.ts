// `mcpgate registry add` and `mcpgate registry verify`: the upstream registry that ships in
// the policy bundle (rego/registry/data.json, data.registry), against which the gateway
// checks each upstream before it talks to it when tool_trust.registry is `enforce`
// (docs/tool-trust.md#the-upstream-registry).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { dirname, resolve } from 'node:path';
import { loadConfigFile, type UpstreamConfig } from '../config/load.js';
import {
  certificateSpki,
  identityGate,
  identityRefusal,
  parseRegistryData,
  stdioIdentity,
  type RegistryEntry,
  type ServerInfo,
  type UpstreamRegistryData,
} from '../upstreams/trust/identity.js';
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';
import { silentLogger } from '../util/logger.js';

const CONFIG_OPTION = {
  type: 'string',
  value: 'FILE',
  default: 'mcpgate.yaml',
  help: 'the gateway configuration that names the upstreams',
} as const;

const REGISTRY_OPTION = {
  type: 'string',
  value: 'FILE',
  default: 'rego/registry/data.json',
  help: 'the registry file of the policy (shipped in the bundle at data.registry)',
} as const;

export const REGISTRY_ADD_SPEC = {
  name: 'registry add',
  summary: 'register configured upstreams: record what each one is',
  args: [
    {
      name: 'NAME...',
      help: 'the upstreams to register, as the configuration names them',
      variadic: true,
    },
  ],
  options: {
    config: CONFIG_OPTION,
    registry: REGISTRY_OPTION,
    'pin-key': {
      type: 'boolean',
      default: false,
      help: "https upstreams: also pin the server certificate's public key (SPKI SHA-256)",
    },
  },
  details: [
    'For a stdio upstream it records the file that runs (the command resolved on PATH and through symlinks, or the script an interpreter such as node runs) with its SHA-256, and when that file belongs to an npm package, the package name, version and lockfile integrity. For an http upstream it records the URL (https is required off loopback). For both it starts the upstream once and records the serverInfo name and version it reports.',
    'Review the change, then build, sign and deploy the policy. With tool_trust.registry: enforce the gateway connects only to upstreams whose identity matches, and /readyz says why one was refused.',
  ],
  example: ['mcpgate registry add filesystem everything --config mcpgate.yaml'],
} as const satisfies CommandSpec;

export const REGISTRY_VERIFY_SPEC = {
  name: 'registry verify',
  summary: 'check every configured upstream against the registry, as the gateway would',
  options: { config: CONFIG_OPTION, registry: REGISTRY_OPTION },
  details: [
    'Checks each configured upstream before connecting (file SHA-256, npm package and lockfile integrity; URL and TLS), then starts it and checks its serverInfo and, for a pinned key, its certificate. Exit status: 0 every upstream matches, 1 one is unregistered or does not match (each is named with the reason), 2 usage error.',
  ],
  example: ['mcpgate registry verify --config mcpgate.yaml'],
} as const satisfies CommandSpec;

function readRegistryFile(path: string): {
  upstreams: Record<string, unknown>;
  parsed: UpstreamRegistryData;
} {
  if (!existsSync(path)) return { upstreams: {}, parsed: new Map() };
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = parseRegistryData({ registry: document }, path);
  const upstreams = (document as { upstreams?: Record<string, unknown> }).upstreams ?? {};
  return { upstreams, parsed };
}

/** Starts an upstream once (with `gate` when given) and reports what it said it is. */
async function probe(
  config: UpstreamConfig,
  gate?: ReturnType<typeof identityGate>,
): Promise<ServerInfo | undefined> {
  const { UpstreamConnection } = await import('../upstreams/connection.js');
  const { CredentialBroker } = await import('../credentials/broker.js');
  const broker = new CredentialBroker('mcpgate-registry', silentLogger);
  const connection = new UpstreamConnection(
    config,
    silentLogger,
    'registry',
    undefined,
    () => broker.connectionHeaders(config.name, config.credential),
    undefined,
    // Only the server's identity is read: it is asked for nothing a client must answer.
    {},
    gate,
  );
  try {
    await connection.start();
    return connection.serverInfo;
  } finally {
    await connection.close();
  }
}

/** The SPKI SHA-256 of the certificate an https server presents. */
function serverSpki(url: URL): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(
      { host: url.hostname, port: Number(url.port || 443), servername: url.hostname },
      () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        resolvePromise(certificateSpki(cert));
      },
    );
    socket.once('error', reject);
  });
}

function configured(
  names: readonly string[],
  upstreams: UpstreamConfig[],
  command: string,
): UpstreamConfig[] {
  const unknown = names.filter((n) => !upstreams.some((u) => u.name === n));
  if (unknown.length > 0) {
    throw new UsageError(
      command,
      `not configured: ${unknown.join(', ')} (upstreams: ${upstreams.map((u) => u.name).join(', ')})`,
    );
  }
  return upstreams.filter((u) => names.includes(u.name));
}

export async function registryAdd(argv: string[]): Promise<number> {
  const parsed = parseCommand(REGISTRY_ADD_SPEC, argv);
  const values = parsed.values;
  if (parsed.positionals.length === 0) {
    throw new UsageError(REGISTRY_ADD_SPEC.name, 'name at least one upstream to register');
  }
  const config = loadConfigFile(values.config);
  const chosen = configured(parsed.positionals, config.upstreams, REGISTRY_ADD_SPEC.name);
  const path = resolve(values.registry);
  const { upstreams } = readRegistryFile(path);
  for (const upstream of chosen) {
    let entry: RegistryEntry;
    if (upstream.transport === 'stdio') entry = stdioIdentity(upstream);
    else {
      entry = { transport: 'http', url: upstream.url };
      const refusal = identityRefusal(upstream, entry);
      if (refusal !== undefined) {
        console.error(`mcpgate registry add: ${refusal}`);
        return 1;
      }
      if (values['pin-key']) {
        const url = new URL(upstream.url);
        if (url.protocol !== 'https:') {
          throw new UsageError(
            REGISTRY_ADD_SPEC.name,
            `--pin-key needs https; ${upstream.name} is at ${upstream.url}`,
          );
        }
        entry.spki_sha256 = [await serverSpki(url)];
      }
    }
    const info = await probe(upstream);
    if (info !== undefined) entry.server_info = info;
    upstreams[upstream.name] = entry;
    const what =
      entry.transport === 'stdio'
        ? `${entry.package ? `${entry.package.name}@${entry.package.version} ` : ''}${entry.file.path} (sha256 ${entry.file.sha256.slice(0, 16)}…)`
        : `${entry.url}${entry.spki_sha256 ? ` (key ${entry.spki_sha256[0]})` : ''}`;
    console.log(
      `registered ${upstream.name}: ${what}; serverInfo ${info ? `${info.name} ${info.version}` : 'none'}`,
    );
  }
  const sorted = Object.fromEntries(Object.entries(upstreams).sort(([a], [b]) => (a < b ? -1 : 1)));
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  writeFileSync(partial, `${JSON.stringify({ upstreams: sorted }, null, 2)}\n`);
  renameSync(partial, path);
  console.log(
    `${path}: ${Object.keys(sorted).length} upstreams. Review the diff, then build and sign the policy (mcpgate policy build) and deploy it.`,
  );
  return 0;
}

export async function registryVerify(argv: string[]): Promise<number> {
  const { values } = parseCommand(REGISTRY_VERIFY_SPEC, argv);
  const config = loadConfigFile(values.config);
  const { parsed } = readRegistryFile(resolve(values.registry));
  let refused = 0;
  for (const upstream of config.upstreams) {
    const gate = identityGate(upstream, () => parsed);
    const before = gate.beforeConnect();
    if (before !== undefined) {
      refused++;
      console.log(`REFUSED  ${upstream.name}: ${before}`);
      continue;
    }
    try {
      const info = await probe(upstream, gate);
      console.log(`OK       ${upstream.name}${info ? `: ${info.name} ${info.version}` : ''}`);
    } catch (err) {
      refused++;
      console.log(`REFUSED  ${upstream.name}: ${(err as Error).message}`);
    }
  }
  console.log(
    `${config.upstreams.length - refused} of ${config.upstreams.length} upstreams match the registry`,
  );
  return refused > 0 ? 1 : 0;
}
