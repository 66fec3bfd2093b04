// What `npm pack` would publish: the gateway (dist/src, bin, the policy), never the
// development IdP (dev/, dist/dev/) nor the tests (test/, dist/test/). Asks npm itself, so
// a change to package.json `files` or an ignore file that ships either one fails here.
// Needs `npm run build` first, as every test does (dist/src/cli/main.js must exist).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../src/util/paths.js';

const run = promisify(execFile);

let packed: string[];

beforeAll(async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  if (!pack) throw new Error(`npm pack --dry-run --json printed no package: ${stdout}`);
  packed = pack.files.map((file) => file.path);
});

describe('the npm package', () => {
  it('ships the CLI and the compiled gateway', () => {
    expect(packed).toContain('bin/mcpgate.js');
    expect(packed).toContain('dist/src/cli/main.js');
    expect(packed).toContain('dist/src/main/gateway.js');
  });

  it('does not ship the development IdP', () => {
    // It is built next to the gateway (the CLI loads it from a checkout), so an empty list
    // means npm left it out, not that there was nothing to pack.
    expect(existsSync(join(PACKAGE_ROOT, 'dist/dev/idp/cli.js'))).toBe(true);
    expect(packed.filter((path) => /^(dist\/)?dev\//.test(path))).toEqual([]);
  });

  it('does not ship the tests or their fixtures', () => {
    expect(existsSync(join(PACKAGE_ROOT, 'dist/test/unit/package-contents.test.js'))).toBe(true);
    expect(packed.filter((path) => /^(dist\/)?test\//.test(path))).toEqual([]);
    expect(packed.filter((path) => /\.test\.(js|ts)(\.map)?$/.test(path))).toEqual([]);
  });
});
