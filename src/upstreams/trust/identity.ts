// Upstream identity: what a configured upstream IS, checked before the gateway talks to it
// when tool_trust.registry is `enforce`, against the registry in the policy's bundle
// (rego/registry/data.json, read at data.registry; `mcpgate registry add` writes it).
//   stdio: the file that runs (the command resolved on PATH and through symlinks, or for an
//          interpreter such as node the script it runs): its SHA-256, and when it belongs
//          to an npm package, the package's name, version and lockfile integrity;
//   http:  the URL, TLS off loopback, optionally the SHA-256 of the server's public key
//          (SPKI), checked on every TLS connection;
//   both:  the serverInfo name and version the server reports in its initialize result.
import { createHash, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { HttpUpstreamConfig, StdioUpstreamConfig, UpstreamConfig } from '../../config/load.js';
import { McpgateError } from '../../util/errors.js';

/** The registry data is malformed: the message names the place. */
export class RegistryDataError extends McpgateError {
  static override readonly code = 'ERR_REGISTRY_INVALID';
}

/**
 * An upstream's identity cannot be worked out, or does not match its registry entry: the
 * gateway does not talk to it. The message says which part and what to do.
 */
export class UpstreamIdentityError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_IDENTITY';
}

/** Where the registry sits in the bundle's data document (rego/registry/data.json). */
export const REGISTRY_DATA_KEY = 'registry';

export interface NpmPackage {
  name: string;
  version: string;
  /** The lockfile's integrity of the package tarball (sha512-…), when a lockfile has it. */
  integrity?: string;
}

export interface ServerInfo {
  name: string;
  version: string;
}

/** One registered upstream, by the name the configuration gives it. */
export type RegistryEntry =
  | {
      transport: 'stdio';
      /** The resolved file that runs, and its SHA-256 (hex). */
      file: { path: string; sha256: string };
      package?: NpmPackage;
      server_info?: ServerInfo;
    }
  | {
      transport: 'http';
      url: string;
      /** Accepted SHA-256 (base64) of the server certificate's SubjectPublicKeyInfo. */
      spki_sha256?: string[];
      server_info?: ServerInfo;
    };

export type UpstreamRegistryData = ReadonlyMap<string, RegistryEntry>;

export const NO_REGISTRY: UpstreamRegistryData = new Map();

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, keys: string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new RegistryDataError(`${where} has an unknown field "${key}" (${keys.join(', ')})`);
    }
  }
}

function string(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new RegistryDataError(`${where} must be a non-empty string`);
  }
  return value;
}

function serverInfo(value: unknown, where: string): ServerInfo | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new RegistryDataError(`${where} must be {name, version}`);
  onlyKeys(value, ['name', 'version'], where);
  return {
    name: string(value.name, `${where}.name`),
    version: string(value.version, `${where}.version`),
  };
}

function parseEntry(value: unknown, where: string): RegistryEntry {
  if (!isObject(value)) throw new RegistryDataError(`${where} must be an object`);
  const info = serverInfo(value.server_info, `${where}.server_info`);
  if (value.transport === 'stdio') {
    onlyKeys(value, ['transport', 'file', 'package', 'server_info'], where);
    if (!isObject(value.file)) throw new RegistryDataError(`${where}.file must be {path, sha256}`);
    onlyKeys(value.file, ['path', 'sha256'], `${where}.file`);
    const sha256 = string(value.file.sha256, `${where}.file.sha256`);
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      throw new RegistryDataError(`${where}.file.sha256 must be 64 lower-case hex digits`);
    }
    const entry: RegistryEntry = {
      transport: 'stdio',
      file: { path: string(value.file.path, `${where}.file.path`), sha256 },
    };
    if (value.package !== undefined) {
      if (!isObject(value.package))
        throw new RegistryDataError(`${where}.package must be {name, version, integrity}`);
      onlyKeys(value.package, ['name', 'version', 'integrity'], `${where}.package`);
      entry.package = {
        name: string(value.package.name, `${where}.package.name`),
        version: string(value.package.version, `${where}.package.version`),
        ...(value.package.integrity === undefined
          ? {}
          : { integrity: string(value.package.integrity, `${where}.package.integrity`) }),
      };
    }
    if (info !== undefined) entry.server_info = info;
    return entry;
  }
  if (value.transport === 'http') {
    onlyKeys(value, ['transport', 'url', 'spki_sha256', 'server_info'], where);
    const entry: RegistryEntry = { transport: 'http', url: string(value.url, `${where}.url`) };
    if (value.spki_sha256 !== undefined) {
      if (!Array.isArray(value.spki_sha256) || value.spki_sha256.length === 0) {
        throw new RegistryDataError(
          `${where}.spki_sha256 must be a non-empty list of base64 SHA-256 digests`,
        );
      }
      entry.spki_sha256 = value.spki_sha256.map((d, i) => {
        const digest = string(d, `${where}.spki_sha256[${i}]`);
        if (Buffer.from(digest, 'base64').length !== 32) {
          throw new RegistryDataError(`${where}.spki_sha256[${i}] is not a base64 SHA-256 digest`);
        }
        return digest;
      });
    }
    if (info !== undefined) entry.server_info = info;
    return entry;
  }
  throw new RegistryDataError(`${where}.transport must be "stdio" or "http"`);
}

/** The upstream registry in a bundle's data document (data.registry); empty without one. */
export function parseRegistryData(
  data: Readonly<Record<string, unknown>>,
  source: string,
): UpstreamRegistryData {
  if (!Object.prototype.hasOwnProperty.call(data, REGISTRY_DATA_KEY)) return NO_REGISTRY;
  const where = `${source}: data.${REGISTRY_DATA_KEY}`;
  const document = data[REGISTRY_DATA_KEY];
  if (!isObject(document)) throw new RegistryDataError(`${where} must be an object`);
  onlyKeys(document, ['upstreams'], where);
  const upstreams = document.upstreams ?? {};
  if (!isObject(upstreams)) throw new RegistryDataError(`${where}.upstreams must be an object`);
  return new Map(
    Object.entries(upstreams).map(([name, entry]) => [
      name,
      parseEntry(entry, `${where}.upstreams.${name}`),
    ]),
  );
}

/** Programs that run a script given as an argument: the script is what is identified. */
const INTERPRETERS = /^(?:node|nodejs|bun|deno|python\d*(?:\.\d+)?|ruby|perl|php|sh|bash)$/;

function findOnPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * The file a stdio upstream runs: its command resolved on PATH and through symlinks, or,
 * when that is an interpreter, the first argument that names an existing file (resolved
 * against the upstream's cwd). Throws with a message a user can act on.
 */
export function stdioSubject(config: StdioUpstreamConfig, env = process.env): string {
  const command = isAbsolute(config.command)
    ? config.command
    : config.command.includes('/')
      ? resolve(config.cwd ?? process.cwd(), config.command)
      : findOnPath(config.command, env);
  if (command === undefined || !existsSync(command)) {
    throw new UpstreamIdentityError(
      `upstream ${config.name}: command ${JSON.stringify(config.command)} is not a file here or on PATH`,
    );
  }
  const executable = realpathSync(command);
  if (!INTERPRETERS.test(basename(executable))) return executable;
  for (const arg of config.args) {
    if (arg.startsWith('-')) continue;
    const script = resolve(config.cwd ?? process.cwd(), arg);
    if (existsSync(script) && statSync(script).isFile()) return realpathSync(script);
  }
  throw new UpstreamIdentityError(
    `upstream ${config.name}: ${basename(executable)} runs no script file named in its args, so there is nothing to identify`,
  );
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The npm package a file belongs to: the nearest package.json above it inside a
 * node_modules folder, with the integrity the nearest package-lock.json records for it.
 */
export function npmPackageOf(file: string): NpmPackage | undefined {
  let dir = dirname(file);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      if (!dir.split(sep).includes('node_modules')) return undefined;
      const json = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (typeof json.name !== 'string' || typeof json.version !== 'string') return undefined;
      const found: NpmPackage = { name: json.name, version: json.version };
      const integrity = lockfileIntegrity(dir, json.name, json.version);
      if (integrity !== undefined) found.integrity = integrity;
      return found;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The integrity of the package installed at packageDir, from the nearest lockfile above it. */
function lockfileIntegrity(packageDir: string, name: string, version: string): string | undefined {
  let dir = dirname(packageDir);
  for (;;) {
    const lockfile = join(dir, 'package-lock.json');
    if (existsSync(lockfile)) {
      const lock = JSON.parse(readFileSync(lockfile, 'utf8')) as {
        packages?: Record<string, { version?: string; integrity?: string }>;
      };
      const key = relative(dir, packageDir).split(sep).join('/');
      // An aliased install (npm i alias@npm:name) sits under another folder name.
      if (!key.endsWith(`node_modules/${name}`)) return undefined;
      const entry = lock.packages?.[key];
      if (entry?.version === version && typeof entry.integrity === 'string') return entry.integrity;
      return undefined;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** What a stdio upstream is on this machine, as `mcpgate registry add` records it. */
export function stdioIdentity(
  config: StdioUpstreamConfig,
): Extract<RegistryEntry, { transport: 'stdio' }> {
  const path = stdioSubject(config);
  const entry: Extract<RegistryEntry, { transport: 'stdio' }> = {
    transport: 'stdio',
    file: { path, sha256: sha256File(path) },
  };
  const pkg = npmPackageOf(path);
  if (pkg !== undefined) entry.package = pkg;
  return entry;
}

/** localhost, 127.0.0.0/8 and ::1: a connection that never leaves the machine. */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/** True for a URL the gateway would reach without TLS on another machine. */
export function plainHttpOffLoopback(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname);
}

/**
 * The reason not to connect to `config` under `entry` (undefined: go ahead), checked before
 * the gateway talks to the upstream. The serverInfo is checked after initialize
 * (serverInfoRefusal), the SPKI on every TLS connection (the HTTP transport).
 */
export function identityRefusal(
  config: UpstreamConfig,
  entry: RegistryEntry | undefined,
): string | undefined {
  const register = `register it with \`mcpgate registry add ${config.name}\`, review, build and deploy the policy`;
  if (entry === undefined)
    return `upstream ${config.name} is not in the upstream registry of the policy in force; ${register}`;
  // A registered `http` entry covers both URL transports (Streamable HTTP and legacy SSE).
  const kind = config.transport === 'stdio' ? 'stdio' : 'http';
  if (entry.transport !== kind) {
    return `upstream ${config.name} is registered as ${entry.transport} but configured as ${config.transport}`;
  }
  if (config.transport !== 'stdio' && entry.transport === 'http') return httpRefusal(config, entry);
  if (config.transport === 'stdio' && entry.transport === 'stdio') {
    let seen: Extract<RegistryEntry, { transport: 'stdio' }>;
    try {
      seen = stdioIdentity(config);
    } catch (err) {
      return (err as Error).message;
    }
    const again = `if the change is intended, ${register.replace('register it', 'register it again')}`;
    if (entry.package !== undefined) {
      const pkg = seen.package;
      if (pkg === undefined) {
        return `upstream ${config.name} runs ${seen.file.path}, which is not in an npm package; the registry names ${entry.package.name}@${entry.package.version}`;
      }
      if (pkg.name !== entry.package.name || pkg.version !== entry.package.version) {
        return `upstream ${config.name} runs ${pkg.name}@${pkg.version}; the registry names ${entry.package.name}@${entry.package.version}; ${again}`;
      }
      if (entry.package.integrity !== undefined && pkg.integrity !== entry.package.integrity) {
        return `upstream ${config.name}: the lockfile integrity of ${pkg.name}@${pkg.version} is ${pkg.integrity ?? 'missing'}, the registry has ${entry.package.integrity}; ${again}`;
      }
    }
    if (seen.file.sha256 !== entry.file.sha256) {
      return `upstream ${config.name}: ${seen.file.path} has SHA-256 ${seen.file.sha256}, the registry has ${entry.file.sha256} (for ${entry.file.path}); the file changed; ${again}`;
    }
  }
  return undefined;
}

function httpRefusal(
  config: HttpUpstreamConfig,
  entry: Extract<RegistryEntry, { transport: 'http' }>,
): string | undefined {
  if (entry.url !== config.url) {
    return `upstream ${config.name} is configured at ${config.url}; the registry names ${entry.url}`;
  }
  if (plainHttpOffLoopback(config.url)) {
    return `upstream ${config.name} is at ${config.url}: a registered upstream off loopback must use https`;
  }
  if (entry.spki_sha256 !== undefined && new URL(config.url).protocol !== 'https:') {
    return `upstream ${config.name} has a pinned public key but is reached without TLS (${config.url})`;
  }
  if (entry.spki_sha256 !== undefined && config.transport === 'sse') {
    return `upstream ${config.name} has a pinned public key, which is checked on Streamable HTTP connections only; it is configured with transport sse`;
  }
  return undefined;
}

/** The reason to refuse a server whose initialize result names another serverInfo. */
export function serverInfoRefusal(
  name: string,
  entry: RegistryEntry | undefined,
  info: ServerInfo | undefined,
): string | undefined {
  const expected = entry?.server_info;
  if (expected === undefined) return undefined;
  if (info?.name === expected.name && info.version === expected.version) return undefined;
  const got = info === undefined ? 'no serverInfo' : `${info.name} ${info.version}`;
  return `upstream ${name} reports serverInfo ${got}; the registry expects ${expected.name} ${expected.version}`;
}

/** The SHA-256 (base64) of a certificate's SubjectPublicKeyInfo, as spki_sha256 lists it. */
export function spkiSha256(publicKeyDer: Buffer): string {
  return createHash('sha256').update(publicKeyDer).digest('base64');
}

/**
 * The identity checks of one upstream, each a reason to refuse it or undefined: before
 * connecting, on the initialize result's serverInfo, and on the certificate of every TLS
 * connection. The registry is read at each check (the policy in force may change).
 */
export interface IdentityGate {
  beforeConnect(): string | undefined;
  afterInitialize(info: ServerInfo | undefined): string | undefined;
  checkCertificate?(cert: PeerCertificate): string | undefined;
}

/** The checks of `config` against `registry()` (undefined: no policy is loaded). */
export function identityGate(
  config: UpstreamConfig,
  registry: () => UpstreamRegistryData | undefined,
): IdentityGate {
  const entry = (): RegistryEntry | undefined => registry()?.get(config.name);
  return {
    beforeConnect: () => {
      const data = registry();
      if (data === undefined) {
        return `no policy is loaded, and the upstream registry is part of the policy bundle; upstream ${config.name} waits for one`;
      }
      return identityRefusal(config, data.get(config.name));
    },
    afterInitialize: (info) => serverInfoRefusal(config.name, entry(), info),
    checkCertificate: (cert) => {
      const registered = entry();
      if (registered?.transport !== 'http' || registered.spki_sha256 === undefined) {
        return undefined;
      }
      const digest = certificateSpki(cert);
      return registered.spki_sha256.includes(digest)
        ? undefined
        : `upstream ${config.name} presented a certificate whose public key (SPKI SHA-256 ${digest}) is not pinned in the registry`;
    },
  };
}

/** The SPKI SHA-256 (base64) of a peer certificate. */
export function certificateSpki(cert: PeerCertificate): string {
  const key = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
  return spkiSha256(key);
}
