// The supported Node.js runtime. `mcpgate start` refuses a Node.js older than package.json's
// engines.node (src/util/runtime.ts). The checkout's pins agree with one another:
// scripts/node-version (what scripts/install-node.sh puts in .tools/node, on which
// `npm test` runs, so this very process), engines.node, @types/node, the Dockerfile's base
// images, and every npm script, which puts the pinned Node.js first on PATH.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/util/paths.js';
import {
  assertSupportedRuntime,
  parseMinimum,
  UnsupportedRuntimeError,
} from '../../src/util/runtime.js';
import { NODE_ENGINES } from '../../src/util/version.js';

const PINNED = readFileSync(join(PACKAGE_ROOT, 'scripts/node-version'), 'utf8').trim();
const MANIFEST = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

function refusal(version: string, engines?: string): UnsupportedRuntimeError {
  try {
    assertSupportedRuntime(version, engines);
  } catch (err) {
    if (err instanceof UnsupportedRuntimeError) return err;
    throw err;
  }
  throw new Error(`Node.js ${version} was accepted`);
}

describe('the runtime check of mcpgate start', () => {
  it('refuses a Node.js older than engines.node, saying which is needed and how to run on it', () => {
    const err = refusal('20.20.2', '>=24.11');
    expect(err.code).toBe('ERR_UNSUPPORTED_RUNTIME');
    expect(err.message).toContain('the gateway needs Node.js 24.11.0 or newer');
    expect(err.message).toContain('this process runs Node.js 20.20.2');
    expect(err.message).toContain('npm start -- --config FILE');
    expect(err.message).toContain('.tools/node/bin/node');
    // Older minors and patches of the supported line too, with or without the v.
    expect(refusal('v24.10.9', '>=24.11').message).toContain('runs Node.js 24.10.9,');
    expect(refusal('24.11.1', '>=24.11.2').message).toContain('needs Node.js 24.11.2 or newer');
    expect(refusal('22.99.0', '>=24').message).toContain('needs Node.js 24.0.0 or newer');
  });

  it('accepts the minimum and anything newer', () => {
    for (const version of ['24.11.0', 'v24.11.0', '24.22.3', '25.0.0', '26.1.0']) {
      expect(() => assertSupportedRuntime(version, '>=24.11')).not.toThrow();
    }
  });

  it('reads only a lower bound from engines.node, and says so of anything else', () => {
    expect(parseMinimum('>=24')).toEqual([24, 0, 0]);
    expect(parseMinimum('>= 24.11.2')).toEqual([24, 11, 2]);
    for (const range of ['^24.11', '24.x', '>=24 <26', '']) {
      expect(() => parseMinimum(range)).toThrow('mcpgate reads only a lower bound');
    }
  });

  it("checks package.json's own engines.node by default", () => {
    expect(NODE_ENGINES).toBe(MANIFEST.engines.node);
    expect(() => parseMinimum(NODE_ENGINES)).not.toThrow();
    expect(refusal('20.20.2').message).toContain(`engines.node "${NODE_ENGINES}"`);
  });
});

describe('the pinned Node.js', () => {
  it('is the runtime of this test run (npm test runs Jest on .tools/node)', () => {
    if (process.version !== `v${PINNED}`) {
      throw new Error(
        `this test runs on Node.js ${process.version}, not the pinned ${PINNED} (scripts/node-version): ` +
          'run the tests through npm (`npm test`, `npm run test:jest -- FILE`) or with .tools/node/bin/node',
      );
    }
  });

  it('satisfies engines.node', () => {
    expect(() => assertSupportedRuntime(PINNED)).not.toThrow();
  });

  it('is the release line of @types/node and of both Dockerfile stages', () => {
    const major = PINNED.split('.')[0] ?? '';
    expect(MANIFEST.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${major}\\.`));
    const dockerfile = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8');
    const nodeImages = [...dockerfile.matchAll(/^FROM (node:\S+)/gm)].map((m) => m[1]);
    expect(nodeImages).toEqual([`node:${major}-bookworm-slim`, `node:${major}-bookworm-slim`]);
  });

  it('is first on PATH in every npm script', () => {
    const scripts = Object.entries(MANIFEST.scripts);
    expect(scripts.length).toBeGreaterThan(10);
    expect(scripts.filter(([, script]) => !script.startsWith('. scripts/use-node.sh && '))).toEqual(
      [],
    );
  });
});
