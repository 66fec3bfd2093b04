// mcp/authz/prepare: evaluated once when a bundle is loaded, its data installed at
// data.mcpgate.prepared for every evaluation, its problems refusing the bundle (at load and
// so at `mcpgate policy build`). On a fixture whose prepare result comes from data, and on
// the shipped policy, which must decide every case alike with and without it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  parseBundle,
  readBundleFile,
  readTar,
  type WasmBundle,
} from '../../src/policy/bundle/read.js';
import {
  DECISION_ENTRYPOINT,
  PolicyEngine,
  PolicyEvalError,
  PolicyLoadError,
  PREPARE_ENTRYPOINT,
  VISIBLE_ENTRYPOINT,
} from '../../src/policy/engine.js';
import { readCases } from '../../src/toolchain/policy-test.js';
import { buildWasmBundle, regoLayout, runOpa, ToolchainError } from '../../src/toolchain/opa.js';
import { policyInputJson, type PolicyInput } from '../../src/policy/input.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';
import { thrownBy } from './support/errors.js';
import { buildFixtureBundle } from './support/opa.js';
import { tar } from './support/tar.js';

const MEMORY = { initialPages: 5, maxPages: 1024 };
let dir: string;
let fixtureWasm: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-prepare-'));
  const file = join(dir, 'prepare.tar.gz');
  buildFixtureBundle('prepare', file, {
    entrypoints: [DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT, PREPARE_ENTRYPOINT],
  });
  fixtureWasm = readTar(gunzipSync(readFileSync(file))).get('/policy.wasm')!;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The fixture's wasm with this data document. */
function withData(data: unknown): WasmBundle {
  return parseBundle(
    gzipSync(
      tar([
        { name: '/policy.wasm', body: fixtureWasm },
        { name: '/data.json', body: JSON.stringify(data) },
      ]),
    ),
    'sha256:test',
  );
}

const decide = (engine: PolicyEngine, mode: string): unknown =>
  engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify({ mode }));

describe('PolicyEngine.load with mcp/authz/prepare', () => {
  it('installs the prepared data at data.mcpgate.prepared for every evaluation', () => {
    const engine = PolicyEngine.load(
      withData({ result: { problems: [], data: { answer: 42 } } }),
      MEMORY,
    );
    expect(decide(engine, 'ok')).toEqual({
      allow: true,
      reasons: ['{"answer":42}'],
      obligations: {},
    });
  });

  it('keeps it when the instance is rebuilt after a failed evaluation', () => {
    const engine = PolicyEngine.load(
      withData({ result: { problems: [], data: { answer: 42 } } }),
      MEMORY,
    );
    expect(thrownBy(() => decide(engine, 'conflict'))).toBeInstanceOf(PolicyEvalError);
    expect(decide(engine, 'ok')).toMatchObject({ allow: true, reasons: ['{"answer":42}'] });
  });

  it('refuses the bundle when prepare reports problems, naming each', () => {
    const err = thrownBy(() =>
      PolicyEngine.load(
        withData({ result: { problems: ['profile a is malformed: x', 'profile b: y'], data: {} } }),
        MEMORY,
      ),
    );
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toBe(
      'policy refused by mcp/authz/prepare: profile a is malformed: x; profile b: y',
    );
  });

  it.each([
    ['a string', 'nope'],
    ['problems that are not strings', { problems: [1], data: {} }],
    ['no problems', { data: {} }],
    ['data that is a list', { problems: [], data: [] }],
    ['data that is null', { problems: [], data: null }],
  ])('refuses a result that is %s', (_what, result) => {
    const err = thrownBy(() => PolicyEngine.load(withData({ result }), MEMORY));
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toMatch(
      /^mcp\/authz\/prepare must return \{"problems": \[strings\], "data": \{\.\.\.\}\}, not /,
    );
  });

  it('refuses an undefined result', () => {
    const err = thrownBy(() => PolicyEngine.load(withData({}), MEMORY));
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toContain('not undefined');
  });

  it('refuses the bundle when prepare fails to evaluate', () => {
    const err = thrownBy(() => PolicyEngine.load(withData({ conflict: true }), MEMORY));
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toMatch(/^mcp\/authz\/prepare failed: policy evaluation failed: /);
  });

  it('refuses bundle data at data.mcpgate, which the gateway owns', () => {
    const err = thrownBy(() =>
      PolicyEngine.load(
        withData({ result: { problems: [], data: {} }, mcpgate: { prepared: { answer: 42 } } }),
        MEMORY,
      ),
    );
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toMatch(/^bundle data has data\.mcpgate, which is reserved/);
  });
});

describe('the shipped policy, with and without mcp/authz/prepare', () => {
  let withPrepare: PolicyEngine;
  let withoutPrepare: PolicyEngine;

  beforeAll(() => {
    const file = join(dir, 'shipped.tar.gz');
    buildWasmBundle(regoLayout(join(PACKAGE_ROOT, 'rego')), file);
    withPrepare = PolicyEngine.load(readBundleFile(file), MEMORY);
    // The same rego/ without the prepare entrypoint (its METADATA makes it one), so every
    // value is worked out per evaluation, as OPA's Go evaluator does.
    const rego = join(dir, 'rego-no-prepare');
    cpSync(join(PACKAGE_ROOT, 'rego'), rego, { recursive: true });
    const authz = join(rego, 'mcp/authz/authz.rego');
    const source = readFileSync(authz, 'utf8');
    const unmarked = source.replace(/(# title: prepare\n[\s\S]*?)# entrypoint: true\n/, '$1');
    expect(unmarked).not.toBe(source);
    writeFileSync(authz, unmarked);
    const plain = join(dir, 'plain.tar.gz');
    const { status, stderr } = buildPlain(rego, plain);
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
    withoutPrepare = PolicyEngine.load(readBundleFile(plain), MEMORY);
  });

  it('has the entrypoint only in the bundle mcpgate policy build made', () => {
    expect(withPrepare.hasEntrypoint(PREPARE_ENTRYPOINT)).toBe(true);
    expect(withoutPrepare.hasEntrypoint(PREPARE_ENTRYPOINT)).toBe(false);
  });

  it('decides every case of rego/tests/cases.json alike', () => {
    const cases = readCases(join(PACKAGE_ROOT, 'rego/tests/cases.json'));
    expect(cases.length).toBeGreaterThan(300);
    for (const c of cases) {
      const json = policyInputJson(c.input as unknown as PolicyInput, false);
      for (const entrypoint of [DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT]) {
        expect({
          name: c.name,
          entrypoint,
          answer: withPrepare.evaluate(entrypoint, json),
        }).toEqual({
          name: c.name,
          entrypoint,
          answer: withoutPrepare.evaluate(entrypoint, json),
        });
      }
    }
  });
});

/** `opa build -t wasm` of a rego/ folder with the decision and visible entrypoints only. */
function buildPlain(rego: string, out: string): { status: number | null; stderr: string } {
  const args = [
    'build',
    '-t',
    'wasm',
    '-e',
    DECISION_ENTRYPOINT,
    '-e',
    VISIBLE_ENTRYPOINT,
    '--capabilities',
    join(rego, 'capabilities.json'),
    '--ignore',
    'tests',
    '--ignore',
    'schema',
    '--ignore',
    'capabilities.json',
    '-o',
    out,
    '.',
  ];
  return runOpa(args, { cwd: rego });
}

describe('mcpgate policy build with a malformed profile', () => {
  it('fails, names the problem, and leaves the output file as it was', () => {
    const rego = join(dir, 'rego-bad');
    cpSync(join(PACKAGE_ROOT, 'rego'), rego, { recursive: true });
    appendFileSync(
      join(rego, 'profiles/code-review/data.yaml'),
      '  everything.add: {allowed: true, scope: "src/(x)/**"}\n',
    );
    const out = join(dir, 'bad.tar.gz');
    writeFileSync(out, 'the previous bundle');
    const err = thrownBy(() => buildWasmBundle(regoLayout(rego), out));
    expect(err).toBeInstanceOf(ToolchainError);
    // Placed at the key it is about: the scope of the line appended last.
    const lines = readFileSync(join(rego, 'profiles/code-review/data.yaml'), 'utf8').split('\n');
    const line = lines.length - 1;
    const column = (lines[line - 1] ?? '').indexOf('scope') + 1;
    expect(err.message).toBe(
      'the gateway would refuse the built policy: mcp/authz/prepare refuses the policy:\n' +
        `  profiles/code-review/data.yaml:${line}:${column}: ` +
        'profile code-review is malformed: tools.everything.add.scope must be a glob or a ' +
        'non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)',
    );
    expect(readFileSync(out, 'utf8')).toBe('the previous bundle');
    expect(existsSync(`${out}.partial-${process.pid}`)).toBe(false);
  });
});
