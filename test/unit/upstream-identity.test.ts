// Upstream identity (src/upstreams/trust/identity.ts): what a stdio upstream runs (resolved
// through PATH, symlinks and interpreters, with its npm package and lockfile integrity),
// the registry data format, and every reason the gateway refuses an upstream before it
// talks to it.
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type UpstreamConfig } from '../../src/config/load.js';
import {
  identityGate,
  identityRefusal,
  npmPackageOf,
  parseRegistryData,
  RegistryDataError,
  serverInfoRefusal,
  stdioIdentity,
  stdioSubject,
  type RegistryEntry,
} from '../../src/upstreams/trust/identity.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';

function upstream(raw: Record<string, unknown>): UpstreamConfig {
  const config = parseConfig(
    {
      auth: { issuers: [{ profile: 'oidc', issuer: 'https://idp.example.com' }] },
      policy: { bundle: 'b.tar.gz' },
      upstreams: { up: raw },
    },
    PACKAGE_ROOT,
  );
  return config.upstreams[0] as UpstreamConfig;
}

const FILESYSTEM_BIN = join(PACKAGE_ROOT, 'node_modules/.bin/mcp-server-filesystem');
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('what a stdio upstream runs', () => {
  it('follows the .bin symlink to the package file, with name, version and lockfile integrity', () => {
    const config = upstream({ transport: 'stdio', command: FILESYSTEM_BIN, args: ['.'] });
    if (config.transport !== 'stdio') throw new Error('stdio expected');
    const subject = stdioSubject(config);
    expect(subject).toBe(realpathSync(FILESYSTEM_BIN));
    expect(subject).toMatch(
      /node_modules\/@modelcontextprotocol\/server-filesystem\/dist\/index\.js$/,
    );
    const identity = stdioIdentity(config);
    expect(identity.package).toMatchObject({ name: '@modelcontextprotocol/server-filesystem' });
    expect(identity.package?.integrity).toMatch(/^sha512-/);
    expect(identity.file.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('identifies the script an interpreter runs, not the interpreter, and looks commands up on PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-identity-'));
    writeFileSync(join(dir, 'server.js'), 'console.log(1)\n');
    const config = upstream({
      transport: 'stdio',
      command: 'node',
      args: ['--no-warnings', 'server.js'],
      cwd: dir,
    });
    if (config.transport !== 'stdio') throw new Error('stdio expected');
    expect(stdioSubject(config)).toBe(realpathSync(join(dir, 'server.js')));
    const identity = stdioIdentity(config);
    expect(identity.file.sha256).toBe(sha256('console.log(1)\n'));
    expect(identity.package).toBeUndefined();
    expect(npmPackageOf(join(dir, 'server.js'))).toBeUndefined();
  });

  it('says why there is nothing to identify', () => {
    const missing = upstream({ transport: 'stdio', command: 'no-such-command-here' });
    if (missing.transport !== 'stdio') throw new Error('stdio expected');
    expect(() => stdioSubject(missing)).toThrow(
      'upstream up: command "no-such-command-here" is not a file here or on PATH',
    );
    const bare = upstream({ transport: 'stdio', command: 'node', args: ['-e', 'x'] });
    if (bare.transport !== 'stdio') throw new Error('stdio expected');
    expect(() => stdioSubject(bare)).toThrow(
      'upstream up: node runs no script file named in its args',
    );
  });
});

describe('the registry data', () => {
  it('reads stdio and http entries', () => {
    const registry = parseRegistryData(
      {
        registry: {
          upstreams: {
            fs: {
              transport: 'stdio',
              file: { path: '/x/index.js', sha256: 'a'.repeat(64) },
              package: { name: 'p', version: '1.0.0', integrity: 'sha512-x' },
              server_info: { name: 'fs', version: '1' },
            },
            web: {
              transport: 'http',
              url: 'https://mcp.example.com/mcp',
              spki_sha256: [Buffer.alloc(32).toString('base64')],
            },
          },
        },
      },
      'bundle r1',
    );
    expect([...registry.keys()]).toEqual(['fs', 'web']);
    expect(parseRegistryData({}, 'bundle r1').size).toBe(0);
  });

  it.each([
    [
      { upstreams: { a: { transport: 'ftp' } } },
      'bundle r1: data.registry.upstreams.a.transport must be "stdio" or "http"',
    ],
    [
      { upstreams: { a: { transport: 'stdio', file: { path: '/x', sha256: 'nope' } } } },
      'data.registry.upstreams.a.file.sha256 must be 64 lower-case hex digits',
    ],
    [
      { upstreams: { a: { transport: 'http', url: 'https://x', pin: 1 } } },
      'data.registry.upstreams.a has an unknown field "pin"',
    ],
    [
      { upstreams: { a: { transport: 'http', url: 'https://x', spki_sha256: ['abc'] } } },
      'data.registry.upstreams.a.spki_sha256[0] is not a base64 SHA-256 digest',
    ],
    [{ servers: {} }, 'data.registry has an unknown field "servers"'],
  ])('refuses malformed data, naming the place: %j', (registry, message) => {
    expect(() => parseRegistryData({ registry }, 'bundle r1')).toThrow(RegistryDataError);
    expect(() => parseRegistryData({ registry }, 'bundle r1')).toThrow(message);
  });
});

describe('refusals before connecting', () => {
  const script = (): { config: UpstreamConfig; dir: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-identity-'));
    writeFileSync(join(dir, 'server.js'), '// v1\n');
    return {
      config: upstream({ transport: 'stdio', command: 'node', args: ['server.js'], cwd: dir }),
      dir,
    };
  };

  it('admits a matching stdio upstream and refuses it once its file changes', () => {
    const { config, dir } = script();
    if (config.transport !== 'stdio') throw new Error('stdio expected');
    const entry = stdioIdentity(config);
    expect(identityRefusal(config, entry)).toBeUndefined();
    writeFileSync(join(dir, 'server.js'), '// v2, with a backdoor\n');
    expect(identityRefusal(config, entry)).toMatch(
      /^upstream up: .*server\.js has SHA-256 [0-9a-f]{64}, the registry has [0-9a-f]{64} \(for .*\); the file changed; if the change is intended, register it again with `mcpgate registry add up`/,
    );
  });

  it('refuses an unregistered upstream, the wrong transport, the wrong package version', () => {
    const { config } = script();
    expect(identityRefusal(config, undefined)).toBe(
      'upstream up is not in the upstream registry of the policy in force; register it with `mcpgate registry add up`, review, build and deploy the policy',
    );
    expect(identityRefusal(config, { transport: 'http', url: 'https://x' })).toBe(
      'upstream up is registered as http but configured as stdio',
    );
    const fs = upstream({ transport: 'stdio', command: FILESYSTEM_BIN });
    if (fs.transport !== 'stdio') throw new Error('stdio expected');
    const entry = stdioIdentity(fs);
    const older: RegistryEntry = { ...entry, package: { ...entry.package!, version: '0.0.1' } };
    expect(identityRefusal(fs, older)).toMatch(
      /^upstream up runs @modelcontextprotocol\/server-filesystem@\S+; the registry names @modelcontextprotocol\/server-filesystem@0\.0\.1/,
    );
    const tampered: RegistryEntry = {
      ...entry,
      package: { ...entry.package!, integrity: 'sha512-other' },
    };
    expect(identityRefusal(fs, tampered)).toMatch(
      /the lockfile integrity of .* is sha512-.*, the registry has sha512-other/,
    );
  });

  it('refuses an http upstream at another URL, or off loopback without TLS', () => {
    const local = upstream({ transport: 'http', url: 'http://127.0.0.1:9000/mcp' });
    expect(
      identityRefusal(local, { transport: 'http', url: 'http://127.0.0.1:9000/mcp' }),
    ).toBeUndefined();
    expect(identityRefusal(local, { transport: 'http', url: 'http://127.0.0.1:9001/mcp' })).toBe(
      'upstream up is configured at http://127.0.0.1:9000/mcp; the registry names http://127.0.0.1:9001/mcp',
    );
    const remote = upstream({ transport: 'http', url: 'http://mcp.example.com/mcp' });
    expect(identityRefusal(remote, { transport: 'http', url: 'http://mcp.example.com/mcp' })).toBe(
      'upstream up is at http://mcp.example.com/mcp: a registered upstream off loopback must use https',
    );
  });

  it('refuses a server reporting another serverInfo, and waits when no policy is loaded', () => {
    const entry: RegistryEntry = {
      transport: 'http',
      url: 'https://x',
      server_info: { name: 'fs', version: '1' },
    };
    expect(serverInfoRefusal('up', entry, { name: 'fs', version: '1' })).toBeUndefined();
    expect(serverInfoRefusal('up', entry, { name: 'fs-evil', version: '1' })).toBe(
      'upstream up reports serverInfo fs-evil 1; the registry expects fs 1',
    );
    expect(serverInfoRefusal('up', entry, undefined)).toBe(
      'upstream up reports serverInfo no serverInfo; the registry expects fs 1',
    );
    const gate = identityGate(upstream({ transport: 'http', url: 'https://x' }), () => undefined);
    expect(gate.beforeConnect()).toBe(
      'no policy is loaded, and the upstream registry is part of the policy bundle; upstream up waits for one',
    );
  });
});
