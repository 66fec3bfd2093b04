// scripts/setup.sh, which `npm test` and the quickstart run first on a fresh clone, and its
// check scripts/npm-packages-current.mjs (is node_modules what package-lock.json asks for?),
// run as the scripts they are, on scratch projects.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
