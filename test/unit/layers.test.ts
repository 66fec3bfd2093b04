// The layering rule (scripts/eslint/layers.js) as `npm run lint` applies it: the repository's
// own eslint.config.js, on in-memory files at made-up paths inside src/ and dev/. Only the
// type-aware parse is turned off (a made-up file is in no TypeScript project) and only the
// layers rule runs.
import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/util/paths.js';

const ORDER =
  'cli > toolchain > main > http > pipeline > audit > policy > upstreams > sessions > ' +
  'credentials > identity > mcp > inspect > telemetry > config > util';

const eslint = new ESLint({
  cwd: PACKAGE_ROOT,
  overrideConfig: {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: false } },
  },
  ruleFilter: ({ ruleId }) => ruleId === 'mcpgate/layers',
});

/** Every problem ESLint reports for `code` as the file `path`: "line: rule: message". */
async function lint(path: string, code: string): Promise<string[]> {
  const results = await eslint.lintText(code, { filePath: join(PACKAGE_ROOT, path) });
  // A parse error or an ignored file has no ruleId: it shows up here and fails the test.
  return results.flatMap((r) => r.messages.map((m) => `${m.line}: ${m.ruleId}: ${m.message}`));
}

function upward(importer: string, target: string, specifier: string): string {
  return (
    `src/${importer} may not import from src/${target} ('${specifier}'): src/${target} is a ` +
    'higher layer. A folder imports only from its own layer or a lower one; layers, highest ' +
    `first: ${ORDER}. Move what both need down, or pass it in from above ` +
    '(docs/architecture.md#layers).'
  );
}

describe('the layers lint rule', () => {
  it('reports an import from a higher layer, naming both folders and the order', async () => {
    const code = [
      "import { DEFAULT_MAX_BUFFER_BYTES } from '../audit/line-writer.js';",
      'export const bound = DEFAULT_MAX_BUFFER_BYTES;',
    ].join('\n');
    expect(await lint('src/config/layers-fixture.ts', code)).toEqual([
      `1: mcpgate/layers: ${upward('config', 'audit', '../audit/line-writer.js')}`,
    ]);
  });

  it('accepts imports from lower layers, from its own folder, and from packages', async () => {
    const code = [
      "import { readFileSync } from 'node:fs';",
      "import { z } from 'zod';",
      "import { DEFAULT_MAX_BUFFER_BYTES } from '../config/policy-schema.js';",
      "import type { Logger } from '../util/logger.js';",
      "import { LOG_ENTRYPOINTS } from './mask.js';",
      "export { sha256Hex } from '../util/canonical-json.js';",
      'export const used = [readFileSync, z, DEFAULT_MAX_BUFFER_BYTES, LOG_ENTRYPOINTS];',
      'export type { Logger };',
    ].join('\n');
    expect(await lint('src/audit/layers-fixture.ts', code)).toEqual([]);
    // The lowest layer may import only from itself.
    expect(await lint('src/util/layers-fixture.ts', "export * from './logger.js';")).toEqual([]);
  });

  it('counts type-only imports, export-from and imports by a path written in the code', async () => {
    const code = [
      "import type { RateLimitObligation } from '../policy/obligations.js';",
      "export type { Decision } from '../policy/decision.js';",
      "export * from '../pipeline/methods.js';",
      "export const admin = await import('../http/admin.js');",
      'export const gateway = await import(`../main/gateway.js`);',
      "export type Mask = typeof import('../audit/mask.js');",
      'export type Limit = RateLimitObligation;',
    ].join('\n');
    expect(await lint('src/sessions/layers-fixture.ts', code)).toEqual([
      `1: mcpgate/layers: ${upward('sessions', 'policy', '../policy/obligations.js')}`,
      `2: mcpgate/layers: ${upward('sessions', 'policy', '../policy/decision.js')}`,
      `3: mcpgate/layers: ${upward('sessions', 'pipeline', '../pipeline/methods.js')}`,
      `4: mcpgate/layers: ${upward('sessions', 'http', '../http/admin.js')}`,
      `5: mcpgate/layers: ${upward('sessions', 'main', '../main/gateway.js')}`,
      `6: mcpgate/layers: ${upward('sessions', 'audit', '../audit/mask.js')}`,
    ]);
  });

  it('applies to files in subfolders of a part (src/http/guards is http)', async () => {
    const code = "export { startGateway } from '../../main/gateway.js';";
    expect(await lint('src/http/guards/layers-fixture.ts', code)).toEqual([
      `1: mcpgate/layers: ${upward('http', 'main', '../../main/gateway.js')}`,
    ]);
  });

  it('lets dev/ import src/util and src/config, and nothing else of src/', async () => {
    const allowed = [
      "import type { Logger } from '../../src/util/logger.js';",
      "import { loadConfig } from '../../src/config/load.js';",
      "import { DEFAULT_USER_CLIENT_ID } from './provider.js';",
      'export type { Logger };',
      'export const used = [loadConfig, DEFAULT_USER_CLIENT_ID];',
    ].join('\n');
    expect(await lint('dev/idp/layers-fixture.ts', allowed)).toEqual([]);
    const refused = "export { PolicyEngine } from '../../src/policy/engine.js';";
    expect(await lint('dev/idp/layers-fixture.ts', refused)).toEqual([
      "1: mcpgate/layers: dev/ may import from src/ only src/util and src/config, not src/policy ('../../src/policy/engine.js'): the development IdP stays apart from the gateway (docs/architecture.md#layers).",
    ]);
  });

  it('refuses src/ importing dev/ by a written path, and leaves a computed path alone', async () => {
    const written = "export const devIdp = await import('../../dev/idp/cli.js');";
    expect(await lint('src/cli/layers-fixture.ts', written)).toEqual([
      "1: mcpgate/layers: src/cli may not import dev/ ('../../dev/idp/cli.js'): dev/ is not in the package or the image. Load it at run time by a computed path, as src/cli/main.ts does (docs/architecture.md#layers).",
    ]);
    const computed = [
      "const devCli = ['..', '..', 'dev', 'idp', 'cli.js'].join('/');",
      'export const devIdp = await import(devCli);',
    ].join('\n');
    expect(await lint('src/cli/layers-fixture.ts', computed)).toEqual([]);
  });

  it('refuses a folder of src/ that has no place in the order, importing or imported', async () => {
    const unplaced = `src/newpart has no place in the layer order (${ORDER}): put the file in one of those folders, or add its folder to LAYERS in scripts/eslint/layers.js and to docs/architecture.md#layers.`;
    expect(
      await lint('src/newpart/layers-fixture.ts', "export * from '../util/logger.js';"),
    ).toEqual([`1: mcpgate/layers: ${unplaced}`]);
    expect(
      await lint('src/util/layers-fixture.ts', "export * from '../newpart/thing.js';"),
    ).toEqual([`1: mcpgate/layers: ${unplaced}`]);
  });

  it('has the order docs/architecture.md documents', () => {
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs/architecture.md'), 'utf8');
    const start = doc.indexOf('\n## Layers\n');
    expect(start).toBeGreaterThan(-1);
    const end = doc.indexOf('\n## ', start + 1);
    expect(doc.slice(start, end === -1 ? undefined : end)).toContain(ORDER);
  });
});
