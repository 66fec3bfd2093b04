import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  BundleError,
  parseBundle,
  readBundleFile,
  readTar,
  type WasmBundle,
} from '../../src/policy/bundle/read.js';
import { parseDecision } from '../../src/policy/decision.js';
import {
  DECISION_ENTRYPOINT,
  describeThrown,
  PolicyEngine,
  PolicyEvalError,
  PolicyLoadError,
  VISIBLE_ENTRYPOINT,
  type MemoryLimits,
} from '../../src/policy/engine.js';
import { PolicyHolder } from '../../src/policy/holder.js';
import { thrownBy } from './support/errors.js';
import { buildFixtureBundle } from './support/opa.js';
import { paxPath, tar, type TarEntry } from './support/tar.js';

const MEMORY: MemoryLimits = { initialPages: 5, maxPages: 1024 };
const FIXTURE_DATA = { limits: { max_calls: 7 }, cfg: { servers: ['fs'] } };

let dir: string;
const bundles = {
  normal: '',
  normalNoRevision: '',
  normalRevision2: '',
  decisionOnly: '',
  faulty: '',
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-engine-'));
  bundles.normal = join(dir, 'normal.tar.gz');
  bundles.normalNoRevision = join(dir, 'normal-norev.tar.gz');
  bundles.normalRevision2 = join(dir, 'normal-rev2.tar.gz');
  bundles.decisionOnly = join(dir, 'decision-only.tar.gz');
  bundles.faulty = join(dir, 'faulty.tar.gz');
  buildFixtureBundle('normal', bundles.normal, { revision: 'fixture-rev-1' });
  buildFixtureBundle('normal', bundles.normalNoRevision);
  buildFixtureBundle('normal', bundles.normalRevision2, { revision: 'fixture-rev-2' });
  buildFixtureBundle('normal', bundles.decisionOnly, {
    entrypoints: [DECISION_ENTRYPOINT],
    revision: 'decision-only',
  });
  buildFixtureBundle('faulty', bundles.faulty, { revision: 'faulty' });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function load(path: string, memory: MemoryLimits = MEMORY): PolicyEngine {
  return PolicyEngine.load(readBundleFile(path), memory);
}

function decide(engine: PolicyEngine, input: unknown): unknown {
  return engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify(input));
}

function callInput(subject: string, toolId = 'fs.read_file'): Record<string, unknown> {
  return { action: 'tools/call', identity: { subject }, tool: { id: toolId } };
}

/** The policy.wasm `opa build` produced for the normal fixture. */
function fixtureWasm(): Buffer {
  const wasm = readTar(gunzipSync(readFileSync(bundles.normal))).get('/policy.wasm');
  if (!wasm) throw new Error('fixture bundle has no policy.wasm');
  return wasm;
}

function bundleOf(entries: TarEntry[], digest = 'sha256:test'): WasmBundle {
  return parseBundle(gzipSync(tar(entries)), digest);
}

function bundleError(entries: TarEntry[]): string {
  const err = thrownBy(() => bundleOf(entries));
  expect(err).toBeInstanceOf(BundleError);
  return err.message;
}

describe('readTar / parseBundle on what `opa build` writes', () => {
  it('reads every file of the tarball under a path starting with "/"', () => {
    const files = readTar(gunzipSync(readFileSync(bundles.normal)));
    // opa build merges every data.json into one at the root, and keeps the sources.
    expect([...files.keys()].sort()).toEqual([
      '/.manifest',
      '/data.json',
      '/policy.rego',
      '/policy.wasm',
    ]);
    const wasm = files.get('/policy.wasm');
    expect(wasm?.subarray(0, 4)).toEqual(Buffer.from([0x00, 0x61, 0x73, 0x6d]));
  });

  it('reads the revision given with --revision and both entrypoints from the manifest', () => {
    const bundle = readBundleFile(bundles.normal);
    expect(bundle.revision).toBe('fixture-rev-1');
    expect(bundle.entrypoints.sort()).toEqual([DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT]);
  });

  it('merges the data.json files into one data document at their directory paths', () => {
    expect(readBundleFile(bundles.normal).data).toEqual(FIXTURE_DATA);
  });

  it('uses a digest of the tarball as the revision when the manifest has none', () => {
    const bytes = readFileSync(bundles.normalNoRevision);
    const digest = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    expect(readBundleFile(bundles.normalNoRevision).revision).toBe(`sha256:${digest}`);
  });

  it('lists only the entrypoints the bundle was built with', () => {
    expect(readBundleFile(bundles.decisionOnly).entrypoints).toEqual([DECISION_ENTRYPOINT]);
  });
});

describe('readTar / parseBundle on hand-made tarballs', () => {
  const wasm = (): Buffer => fixtureWasm();

  it('normalises names without a leading "/" and joins the ustar prefix field', () => {
    const files = readTar(
      tar([
        { name: 'policy.wasm', body: 'w' },
        { name: '/.manifest', body: '{}' },
        { name: 'data.json', prefix: 'deep/er', body: '{}' },
      ]),
    );
    expect([...files.keys()]).toEqual(['/policy.wasm', '/.manifest', '/deep/er/data.json']);
    expect(files.get('/policy.wasm')?.toString()).toBe('w');
  });

  it('applies a PAX path and a GNU long name to the next file only', () => {
    const long = `${'d'.repeat(120)}/data.json`;
    const files = readTar(
      tar([
        { name: 'PaxHeader', type: 'x', body: paxPath(long) },
        { name: 'truncated-name', body: 'one' },
        { name: '././@LongLink', type: 'L', body: '/gnu/long/name.txt\0' },
        { name: 'short', body: 'two' },
        { name: 'plain', body: 'three' },
      ]),
    );
    expect([...files.keys()]).toEqual([`/${long}`, '/gnu/long/name.txt', '/plain']);
    expect(files.get('/gnu/long/name.txt')?.toString()).toBe('two');
  });

  it('skips directories and reads a body that spans several blocks', () => {
    const big = 'z'.repeat(1300);
    const files = readTar(
      tar([
        { name: 'dir/', type: '5' },
        { name: 'dir/big.txt', body: big },
        { name: 'after', body: 'x' },
      ]),
    );
    expect([...files.keys()]).toEqual(['/dir/big.txt', '/after']);
    expect(files.get('/dir/big.txt')?.toString()).toBe(big);
    expect(files.get('/after')?.toString()).toBe('x');
  });

  it('places nested data.json files at their directory path', () => {
    const bundle = bundleOf([
      { name: '/policy.wasm', body: 'w' },
      { name: '/data.json', body: '{"top": 1}' },
      { name: '/a/b/data.json', body: '{"x": [1]}' },
      { name: '/c/data.json', body: '"scalar"' },
    ]);
    expect(bundle.data).toEqual({ top: 1, a: { b: { x: [1] } }, c: 'scalar' });
  });

  it('uses the digest it is given when there is no manifest', () => {
    const bundle = bundleOf([{ name: '/policy.wasm', body: 'w' }], 'sha256:given');
    expect(bundle.revision).toBe('sha256:given');
    expect(bundle.entrypoints).toEqual([]);
    expect(bundle.data).toEqual({});
  });

  it('uses the digest when the manifest revision is empty or not a string', () => {
    for (const manifest of ['{"revision": ""}', '{"revision": 5}']) {
      const bundle = bundleOf(
        [
          { name: '/.manifest', body: manifest },
          { name: '/policy.wasm', body: 'w' },
        ],
        'sha256:fallback',
      );
      expect(bundle.revision).toBe('sha256:fallback');
    }
  });

  it('refuses a file that is not gzip', () => {
    const err = thrownBy(() => parseBundle(Buffer.from('this is not a bundle'), 'd'));
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toMatch(/^bundle is not a gzip tarball: /);
  });

  it('refuses a gzip of something short that is not a tar', () => {
    const err = thrownBy(() => parseBundle(gzipSync('hello, not a tar'), 'd'));
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toContain('bundle has no /policy.wasm');
  });

  it('refuses a gzip of a large non-tar (bad header size)', () => {
    const err = thrownBy(() => parseBundle(gzipSync(Buffer.alloc(2048, 'x')), 'd'));
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toBe('bundle tar header has a bad size');
  });

  it('refuses a truncated tarball', () => {
    const whole = tar([{ name: 'policy.wasm', body: 'x'.repeat(2000) }]);
    const err = thrownBy(() => parseBundle(gzipSync(whole.subarray(0, 1024)), 'd'));
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toBe('bundle tarball is truncated');
  });

  it('refuses a tarball without /policy.wasm, saying how to build one', () => {
    const message = bundleError([
      { name: '/.manifest', body: '{}' },
      { name: '/data.json', body: '{}' },
      { name: '/nested/policy.wasm', body: 'w' },
    ]);
    expect(message).toBe('bundle has no /policy.wasm (build it with `mcpgate policy build`)');
  });

  it('refuses a manifest that is not JSON', () => {
    expect(
      bundleError([
        { name: '/.manifest', body: '{revision:' },
        { name: '/policy.wasm', body: 'w' },
      ]),
    ).toBe('bundle .manifest is not valid JSON');
  });

  it('refuses a data.json that is not JSON, naming it', () => {
    expect(
      bundleError([
        { name: '/policy.wasm', body: 'w' },
        { name: '/x/data.json', body: '{nope' },
      ]),
    ).toBe('bundle file /x/data.json is not valid JSON');
  });

  it('refuses a missing bundle file with BundleError naming the path', () => {
    const path = join(dir, 'does-not-exist.tar.gz');
    const err = thrownBy(() => readBundleFile(path));
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toContain(`cannot read policy bundle ${path}`);
    expect(err.message).toContain('mcpgate policy build');
  });

  it('reads a bundle re-packed by hand with a valid policy.wasm', () => {
    const bundle = bundleOf([
      { name: '.manifest', body: JSON.stringify({ revision: 'hand-1' }) },
      { name: 'policy.wasm', body: wasm() },
      { name: 'data.json', body: JSON.stringify(FIXTURE_DATA) },
    ]);
    const engine = PolicyEngine.load(bundle, MEMORY);
    expect(engine.revision).toBe('hand-1');
    expect(decide(engine, callInput('alice'))).toEqual({
      allow: true,
      reasons: ['alice may call fs.read_file (limit 7)'],
      obligations: {},
    });
  });
});

describe('PolicyEngine with a normal policy', () => {
  let engine: PolicyEngine;

  beforeAll(() => {
    engine = load(bundles.normal);
  });

  it('carries the bundle revision and both entrypoints', () => {
    expect(engine.revision).toBe('fixture-rev-1');
    expect(engine.hasEntrypoint(DECISION_ENTRYPOINT)).toBe(true);
    expect(engine.hasEntrypoint(VISIBLE_ENTRYPOINT)).toBe(true);
    expect(engine.hasEntrypoint('mcp/authz/other')).toBe(false);
  });

  it('returns the decision object, computed from input and data', () => {
    expect(decide(engine, callInput('alice'))).toEqual({
      allow: true,
      reasons: ['alice may call fs.read_file (limit 7)'],
      obligations: {},
    });
    expect(decide(engine, callInput('mallory'))).toEqual({
      allow: false,
      reasons: ['mallory is blocked'],
      obligations: { terminate_session: true },
    });
  });

  it('returns a decision parseDecision accepts', () => {
    expect(parseDecision(decide(engine, callInput('alice'))).allow).toBe(true);
    const denied = parseDecision(decide(engine, callInput('mallory')));
    expect(denied.allow).toBe(false);
    expect(denied.obligations.terminate_session).toBe(true);
  });

  it('returns undefined when the decision is undefined for the input', () => {
    expect(decide(engine, callInput('bob'))).toBeUndefined();
    expect(decide(engine, {})).toBeUndefined();
    expect(parseDecision(decide(engine, callInput('bob'))).allow).toBe(false);
  });

  it('passes non-ASCII input through intact', () => {
    expect(decide(engine, callInput('alice', 'fs.lire_é_文件_🙂'))).toEqual({
      allow: true,
      reasons: ['alice may call fs.lire_é_文件_🙂 (limit 7)'],
      obligations: {},
    });
  });

  it('returns visible as an array of ids', () => {
    const input = {
      action: 'tools/list',
      catalog: [
        { kind: 'tool', id: 'fs.read', server: 'fs' },
        { kind: 'tool', id: 'git.push', server: 'git' },
        { kind: 'resource', id: 'fs:file:///a', server: 'fs' },
      ],
    };
    const visible = engine.evaluate(VISIBLE_ENTRYPOINT, JSON.stringify(input));
    expect(Array.isArray(visible)).toBe(true);
    expect((visible as string[]).slice().sort()).toEqual(['fs.read', 'fs:file:///a']);
    expect(engine.evaluate(VISIBLE_ENTRYPOINT, '{}')).toEqual([]);
  });

  it('refuses an entrypoint the policy does not have with PolicyEvalError', () => {
    const err = thrownBy(() => engine.evaluate('mcp/authz/nope', '{}'));
    expect(err).toBeInstanceOf(PolicyEvalError);
    expect(err.message).toContain('mcp/authz/nope');
    expect(decide(engine, callInput('alice'))).toMatchObject({ allow: true });
  });

  it("answers the same through opa-wasm's own evaluate (the path for a Wasm ABI before 1.2)", () => {
    const inputs = [callInput('alice'), callInput('mallory'), callInput('bob'), {}];
    const direct = inputs.map((input) => decide(engine, input));
    const fallback = load(bundles.normal);
    (fallback as unknown as { opaEval: unknown }).opaEval = undefined;
    expect(inputs.map((input) => decide(fallback, input))).toEqual(direct);
    expect(direct[0]).toMatchObject({ allow: true });
  });

  it('gives the same answer on repeated evaluations', () => {
    for (let i = 0; i < 50; i++) {
      expect(decide(engine, callInput(i % 2 === 0 ? 'alice' : 'bob'))).toEqual(
        i % 2 === 0
          ? { allow: true, reasons: ['alice may call fs.read_file (limit 7)'], obligations: {} }
          : undefined,
      );
    }
  });
});

describe('PolicyEngine with a policy that fails at evaluation', () => {
  let engine: PolicyEngine;

  beforeAll(() => {
    engine = load(bundles.faulty);
  });

  const ok = (): unknown => decide(engine, { mode: 'ok' });

  it.each([
    ['a complete rule with two values', { mode: 'conflict' }, 'var assignment conflict'],
    ['a function with two outputs', { mode: 'function', n: 1 }, 'var assignment conflict'],
    ['a partial object with two values for a key', { mode: 'object' }, 'object insert conflict'],
  ])('throws PolicyEvalError for %s, then keeps working', (_what, input, detail) => {
    expect(ok()).toEqual({ allow: true, reasons: ['ok'] });
    const err = thrownBy(() => decide(engine, input));
    expect(err).toBeInstanceOf(PolicyEvalError);
    expect(err.message).toMatch(/^policy evaluation failed: /);
    expect(err.message).toContain(detail);
    expect(err.message).toContain('policy.rego:');
    expect(ok()).toEqual({ allow: true, reasons: ['ok'] });
  });

  it('fails every time for the bad input and never for the good one', () => {
    for (let i = 0; i < 10; i++) {
      expect(thrownBy(() => decide(engine, { mode: 'conflict' }))).toBeInstanceOf(PolicyEvalError);
      expect(ok()).toEqual({ allow: true, reasons: ['ok'] });
      expect(engine.evaluate(VISIBLE_ENTRYPOINT, JSON.stringify({ mode: 'ok' }))).toEqual([
        'fs.read',
      ]);
    }
  });

  it('replaces the wasm instance after a failure, and only then', () => {
    // Recovery above would also pass if the old instance were reused, so look at it directly.
    const instance = (e: PolicyEngine): unknown => (e as unknown as { policy: unknown }).policy;
    const before = instance(engine);
    expect(before).toBeDefined();
    ok();
    expect(instance(engine)).toBe(before);
    expect(() => decide(engine, { mode: 'conflict' })).toThrow(PolicyEvalError);
    expect(instance(engine)).not.toBe(before);
  });

  it('treats division by zero as undefined, not an error (wasm built-ins do not throw)', () => {
    expect(decide(engine, { mode: 'divide', divisor: 0 })).toBeUndefined();
    expect(decide(engine, { mode: 'divide', divisor: 1 })).toEqual({ allow: true });
  });
});

describe('PolicyEngine memory limits', () => {
  const TINY: MemoryLimits = { initialPages: 2, maxPages: 3 };

  it('reports an input too large for linear memory as out of memory, then recovers', () => {
    const engine = load(bundles.faulty, TINY);
    expect(decide(engine, { mode: 'ok' })).toEqual({ allow: true, reasons: ['ok'] });
    const huge = { mode: 'ok', blob: 'x'.repeat(4 * 1024 * 1024) };
    const err = thrownBy(() => decide(engine, huge));
    expect(err).toBeInstanceOf(PolicyEvalError);
    expect(err.message).toMatch(/out of memory/);
    expect(err.message).toContain('limit 3 pages');
    expect(decide(engine, { mode: 'ok' })).toEqual({ allow: true, reasons: ['ok'] });
    // And again: the recovery is not a one-off.
    expect(thrownBy(() => decide(engine, huge))).toBeInstanceOf(PolicyEvalError);
    expect(decide(engine, { mode: 'ok' })).toEqual({ allow: true, reasons: ['ok'] });
  });

  it('resets after a spike above what the policy and its data take, not for large data', () => {
    // 5 MiB of data: above the 4 MiB of headroom, which used to be counted from zero, so
    // every evaluation replaced the instance (parsing all the data again).
    const bundle = readBundleFile(bundles.faulty);
    const large = { ...bundle, data: { ...bundle.data, bulk: 'x'.repeat(5 * 1024 * 1024) } };
    const engine = PolicyEngine.load(large, MEMORY);
    const instance = (): unknown => (engine as unknown as { policy: unknown }).policy;
    const loaded = instance();
    for (let i = 0; i < 3; i++) {
      expect(decide(engine, { mode: 'ok' })).toEqual({ allow: true, reasons: ['ok'] });
    }
    expect(instance()).toBe(loaded);
    // A spike of its own (an input larger than the headroom) is still reset after.
    const huge = { mode: 'ok', blob: 'x'.repeat(6 * 1024 * 1024) };
    expect(decide(engine, huge)).toEqual({ allow: true, reasons: ['ok'] });
    const fresh = instance();
    expect(fresh).not.toBe(loaded);
    expect(decide(engine, { mode: 'ok' })).toEqual({ allow: true, reasons: ['ok'] });
    expect(instance()).toBe(fresh);
  });

  it('evaluates the same huge input under the default limits', () => {
    const engine = load(bundles.faulty);
    const huge = { mode: 'ok', blob: 'x'.repeat(4 * 1024 * 1024) };
    expect(decide(engine, huge)).toEqual({ allow: true, reasons: ['ok'] });
    expect(decide(engine, { mode: 'ok' })).toEqual({ allow: true, reasons: ['ok'] });
  });

  it('fails closed when the policy itself exhausts memory, then recovers', () => {
    const engine = load(bundles.faulty, { initialPages: 2, maxPages: 8 });
    expect(decide(engine, { mode: 'allocate', n: 10 })).toEqual({ allow: false, n: 10 });
    expect(thrownBy(() => decide(engine, { mode: 'allocate', n: 1_000_000 }))).toBeInstanceOf(
      PolicyEvalError,
    );
    expect(decide(engine, { mode: 'ok' })).toEqual({ allow: true, reasons: ['ok'] });
    expect(decide(engine, { mode: 'allocate', n: 10 })).toEqual({ allow: false, n: 10 });
  });

  // BUG (src/policy/engine.ts evaluate, the out-of-memory classification): when the heap
  // runs out inside wasm, opa-wasm's opa_abort throws the string "opa_malloc: failed"; it is
  // neither a RangeError nor mentions "memory", so it is reported as "policy evaluation
  // failed: opa_malloc: failed" instead of as running out of memory (and the configured
  // page limit, the knob to turn, is not named).
  it('describes the policy exhausting memory as running out of memory', () => {
    const engine = load(bundles.faulty, { initialPages: 2, maxPages: 8 });
    const err = thrownBy(() => decide(engine, { mode: 'allocate', n: 1_000_000 }));
    expect(err).toBeInstanceOf(PolicyEvalError);
    expect(err.message).toMatch(/out of memory/);
    expect(err.message).toContain('limit 8 pages');
  });
});

describe('PolicyEngine.load failures', () => {
  it('refuses a bundle without the visible entrypoint, naming it and what is present', () => {
    const err = thrownBy(() => load(bundles.decisionOnly));
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toContain(`policy has no entrypoint ${VISIBLE_ENTRYPOINT}`);
    expect(err.message).toContain(`entrypoints present: ${DECISION_ENTRYPOINT}`);
  });

  it('refuses a policy.wasm that is not WebAssembly', () => {
    const bundle = bundleOf([{ name: '/policy.wasm', body: 'definitely not wasm' }]);
    const err = thrownBy(() => PolicyEngine.load(bundle, MEMORY));
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toMatch(/^policy\.wasm is not a valid WebAssembly module: /);
  });

  it('refuses memory limits the runtime cannot honour', () => {
    const err = thrownBy(() => load(bundles.normal, { initialPages: 10, maxPages: 5 }));
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.message).toMatch(/^cannot instantiate policy: /);
  });
});

describe('describeThrown', () => {
  it('makes a readable message from whatever opa-wasm throws', () => {
    expect(describeThrown(new Error('boom'))).toBe('boom');
    expect(describeThrown('opa_abort text')).toBe('opa_abort text');
    expect(describeThrown({ message: 'object message' })).toBe('object message');
    expect(describeThrown(42)).toBe('42');
    expect(describeThrown(undefined)).toBe('undefined');
  });
});

describe('PolicyHolder', () => {
  it('starts with no policy and no error', () => {
    const holder = new PolicyHolder();
    expect(holder.current()).toBeUndefined();
    expect(holder.error).toBeUndefined();
  });

  it('keeps the previous engine when a new load fails, and records why', () => {
    const holder = new PolicyHolder();
    const first = holder.loadBundleFile(bundles.normal, MEMORY);
    expect(holder.current()).toBe(first);
    expect(first.revision).toBe('fixture-rev-1');

    const garbage = join(dir, 'garbage.tar.gz');
    writeFileSync(garbage, 'not a bundle at all');
    const bad = thrownBy(() => holder.loadBundleFile(garbage, MEMORY));
    expect(bad).toBeInstanceOf(BundleError);
    expect(holder.current()).toBe(first);
    expect(holder.error).toBe(bad.message);

    const missing = thrownBy(() => holder.loadBundleFile(bundles.decisionOnly, MEMORY));
    expect(missing).toBeInstanceOf(PolicyLoadError);
    expect(holder.current()).toBe(first);
    expect(holder.error).toContain(VISIBLE_ENTRYPOINT);

    // The engine kept in force still decides.
    expect(decide(first, callInput('alice'))).toMatchObject({ allow: true });

    const second = holder.loadBundleFile(bundles.normalRevision2, MEMORY);
    expect(holder.current()).toBe(second);
    expect(second.revision).toBe('fixture-rev-2');
    expect(holder.error).toBeUndefined();
  });

  it('stays empty when the first load fails', () => {
    const holder = new PolicyHolder();
    expect(thrownBy(() => holder.loadBundleFile(join(dir, 'nope.tar.gz'), MEMORY))).toBeInstanceOf(
      BundleError,
    );
    expect(holder.current()).toBeUndefined();
    expect(holder.error).toContain('cannot read policy bundle');
  });

  it('use() swaps the engine in and clears the last error', () => {
    const holder = new PolicyHolder();
    expect(() => holder.loadBundleFile(join(dir, 'nope.tar.gz'), MEMORY)).toThrow(BundleError);
    const engine = load(bundles.normal);
    holder.use(engine);
    expect(holder.current()).toBe(engine);
    expect(holder.error).toBeUndefined();
  });
});
