// Which input parts no rule can read (input-analysis.ts), on policies parsed by the real
// `opa parse`: every way a rule can reach input.session.history must count as reading it,
// since leaving out a part a deny rule reads would fail open. Then what `mcpgate policy
// build` records in the bundle, for the shipped policy and for one that reads history.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BundleError, parseBundle, readBundleFile, readTar } from '../../src/policy/bundle/read.js';
import { replaceTarFile } from '../../src/policy/bundle/tar.js';
import { DECISION_ENTRYPOINT, PolicyEngine, VISIBLE_ENTRYPOINT } from '../../src/policy/engine.js';
import { unreadInput, type ModuleAst } from '../../src/toolchain/input-analysis.js';
import {
  buildWasmBundle,
  parseModules,
  recordUnreadInput,
  regoLayout,
  regoSources,
  ToolchainError,
} from '../../src/toolchain/opa.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';
import { thrownBy } from './support/errors.js';
import { buildFixtureBundle } from './support/opa.js';
import { tar } from './support/tar.js';

const ENTRYPOINTS = [DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT];

function modules(sources: Record<string, string>): ModuleAst[] {
  return parseModules(
    new Map(Object.entries(sources).map(([name, source]) => [name, Buffer.from(source)])),
  );
}

// A core like the shipped one: the decision gathers the deny sets of every purpose package.
const CORE = `package mcp.authz

import data.mcp.purposes

decision := {"allow": count(denials) == 0, "reasons": sort(denials), "obligations": {}}

visible contains item.id if {
	count(denials) == 0
	some item in input.catalog
}

denials contains reason if {
	some name
	some reason in purposes[name].deny
}
`;

/** What is left unread when a purpose package holds `rules` (and `extra` modules exist). */
function unreadWith(rules: string, extra: Record<string, string> = {}): string[] {
  return unreadInput(
    modules({ '/core.rego': CORE, '/p.rego': `package mcp.purposes.p\n\n${rules}\n`, ...extra }),
    ENTRYPOINTS,
  );
}

const LIB_READS_HISTORY = {
  '/lib.rego': 'package lib.h\n\nn := count(input.session.history)\n',
};

describe('unreadInput: every way to read input.session.history counts as reading it', () => {
  it.each([
    ['a reference to it', 'deny contains "x" if count(input.session.history) > 3'],
    ['a reference inside it', 'deny contains "x" if input.session.history[0].allowed == false'],
    ['iteration', 'deny contains "x" if {\n\tsome e in input.session.history\n\tnot e.allowed\n}'],
    ['every', 'deny contains "x" if every e in input.session.history {\n\te.allowed\n}'],
    ['a binding nothing else uses', 'deny contains "x" if {\n\th := input.session.history\n}'],
    ['iteration over input.session', 'deny contains k if some k, _ in input.session'],
    ['a variable key under input.session', 'deny contains "x" if input.session[k] == []'],
    ['a wildcard under input', 'deny contains "x" if input[_].history'],
    ['a variable key under input', 'deny contains "x" if {\n\tsome k\n\tinput[k].history\n}'],
    [
      'input.session as a value',
      'deny contains "x" if {\n\ts := input.session\n\tcount(s.history) > 3\n}',
    ],
    [
      'input as a value (object.get)',
      'deny contains "x" if count(object.get(input, ["session", "history"], [])) > 3',
    ],
    ['input as a value (json.marshal)', 'deny contains "x" if contains(json.marshal(input), "a")'],
    [
      'input as a value (walk)',
      'deny contains "x" if {\n\twalk(input, [p, _])\n\tp[1] == "history"\n}',
    ],
    [
      'a function given input.session',
      'deny contains "x" if long(input.session)\n\nlong(s) if count(s.history) > 3',
    ],
    [
      'an import of input.session',
      'import input.session as s\n\ndeny contains "x" if count(s.history) > 3',
    ],
    [
      'an import of the history itself',
      'import input.session.history\n\ndeny contains "x" if count(history) > 3',
    ],
    [
      'an import of input',
      'import input as i\n\ndeny contains "x" if count(i.session.history) > 3',
    ],
    ['a with target', 'deny contains "x" if q with input.session.history as []\n\nq := true'],
    [
      'a rule of the same package',
      'deny contains "x" if n > 3\n\nn := count(input.session.history)',
    ],
  ])('%s', (_how, rules) => {
    expect(unreadWith(rules)).toEqual([]);
  });

  it.each([
    ['data.lib.h.n', 'deny contains "x" if data.lib.h.n > 3'],
    ['an imported package', 'import data.lib.h\n\ndeny contains "x" if h.n > 3'],
    [
      'an imported package, aliased',
      'import data.lib.h as hist\n\ndeny contains "x" if hist.n > 3',
    ],
    ['a dynamic data reference', 'deny contains "x" if data.lib[k].n > 3'],
    ['the package as a value', 'deny contains "x" if data.lib.h["n"] > 3'],
    ['all of data', 'deny contains "x" if count(data) > 99'],
  ])('through another package: %s', (_how, rules) => {
    expect(unreadWith(rules, LIB_READS_HISTORY)).toEqual([]);
  });

  it('in a decision-log rule, at input.input.session.history', () => {
    const log = {
      '/log.rego': 'package system.log\n\ndrop if count(input.input.session.history) > 3\n',
    };
    const all = modules({ '/core.rego': CORE, ...log });
    expect(unreadInput(all, ENTRYPOINTS)).toEqual(['session.history']);
    expect(unreadInput(all, [...ENTRYPOINTS, 'system/log/drop'])).toEqual([]);
  });

  it('when an entrypoint names a whole package', () => {
    expect(unreadInput(modules({ '/core.rego': CORE, ...LIB_READS_HISTORY }), ['lib'])).toEqual([]);
  });
});

describe('unreadInput: what it proves unread', () => {
  it('when rules read other parts, the summary included', () => {
    expect(
      unreadWith(
        [
          'deny contains "x" if input.session.summary.tools["a.b"].allowed > 3',
          'deny contains "y" if input.session["counters"].calls > 3',
          'deny contains "z" if input.tool.id == input.session.purpose',
          'deny contains "w" if input.session.history_limit',
        ].join('\n\n'),
      ),
    ).toEqual(['session.history']);
  });

  it('when the only rule that reads it is one no entrypoint reaches', () => {
    expect(unreadWith('deny contains "x" if false', LIB_READS_HISTORY)).toEqual([
      'session.history',
    ]);
  });

  it('leaves a part it was not asked about alone', () => {
    const all = modules({ '/core.rego': CORE });
    expect(unreadInput(all, ENTRYPOINTS, [])).toEqual([]);
    expect(unreadInput(all, ENTRYPOINTS, ['session.history', 'tool'])).toEqual([
      'session.history',
      'tool',
    ]);
    expect(unreadInput(all, ENTRYPOINTS, ['catalog'])).toEqual([]);
  });
});

describe('mcpgate policy build records what it proved in the manifest', () => {
  const READS_HISTORY =
    'deny contains "too many recent calls" if count(data.mcp.lib.history.tool_calls) > 1000';
  let dir: string;
  /** Copies of rego/: as shipped, and with a code-review rule that reads the history. */
  const rego = { shipped: '', history: '' };
  const bundleOf = (copy: string): string => join(copy, 'bundle.tar.gz');

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpgate-input-analysis-'));
    for (const which of ['shipped', 'history'] as const) {
      rego[which] = join(dir, which);
      cpSync(join(PACKAGE_ROOT, 'rego'), rego[which], { recursive: true });
      if (which === 'history') {
        appendFileSync(join(rego[which], 'mcp/purposes/code_review.rego'), `\n${READS_HISTORY}\n`);
      }
      buildWasmBundle(regoLayout(rego[which]), bundleOf(rego[which]));
    }
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('the shipped policy never reads the history: the gateway leaves it out', () => {
    const bundle = readBundleFile(bundleOf(rego.shipped));
    expect(bundle.unreadInput).toEqual(['session.history']);
    expect(PolicyEngine.load(bundle, { initialPages: 5, maxPages: 1024 }).omitsHistory).toBe(true);
  });

  it('a purpose with a sequence rule on history.tool_calls gets the history', () => {
    const bundle = readBundleFile(bundleOf(rego.history));
    expect(bundle.unreadInput).toEqual([]);
    expect(PolicyEngine.load(bundle, { initialPages: 5, maxPages: 1024 }).omitsHistory).toBe(false);
  });

  it("analyses the sources: the bundle's copies lack the rules compiled to wasm", () => {
    const inBundle = readTar(gunzipSync(readFileSync(bundleOf(rego.history))));
    const entrypoints = [DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT];
    // The bundle's authz.rego has no decision rule, so nothing would be reached from it.
    expect(unreadInput(parseModules(inBundle), entrypoints)).toEqual(['session.history']);
    expect(unreadInput(parseModules(regoSources(rego.history)), entrypoints)).toEqual([]);
  });

  it('keeps every other file of the bundle byte for byte', () => {
    const file = bundleOf(rego.shipped);
    const before = readTar(gunzipSync(readFileSync(file)));
    expect(recordUnreadInput(file, regoSources(rego.shipped))).toEqual(['session.history']);
    const after = readTar(gunzipSync(readFileSync(file)));
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, body] of before) {
      if (name !== '/.manifest') expect(after.get(name)?.equals(body)).toBe(true);
    }
    const manifest = JSON.parse(after.get('/.manifest')!.toString('utf8')) as {
      revision: string;
      metadata: unknown;
    };
    expect(manifest.metadata).toEqual({ mcpgate: { unread_input: ['session.history'] } });
    expect(manifest.revision).toMatch(/^rego-/);
  });
});

describe('failures of the build step', () => {
  it('refuses a bundle without a manifest to record in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-no-manifest-'));
    try {
      const file = join(dir, 'bundle.tar.gz');
      writeFileSync(file, gzipSync(tar([{ name: '/policy.wasm', body: 'w' }])));
      const err = thrownBy(() => recordUnreadInput(file, new Map()));
      expect(err).toBeInstanceOf(ToolchainError);
      expect(err.message).toBe(`${file} has no /.manifest`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a module opa parse refuses, naming it', () => {
    const err = thrownBy(() => modules({ '/broken.rego': 'package x\n\np if {' }));
    expect(err).toBeInstanceOf(ToolchainError);
    expect(err.message).toMatch(/^opa parse of \/broken\.rego failed:\n/);
  });

  it('refuses a module whose rule has no name (not what opa parse writes)', () => {
    const module: ModuleAst = {
      package: {
        path: [
          { type: 'var', value: 'data' },
          { type: 'string', value: 'x' },
        ],
      },
      rules: [{ head: {} }],
    };
    expect(() => unreadInput([module], ENTRYPOINTS)).toThrow(
      'a rule without a name in `opa parse` output',
    );
  });
});

describe('replaceTarFile', () => {
  it('replaces one plain entry and keeps the others', () => {
    const original = tar([
      { name: 'a.txt', body: 'x'.repeat(700) },
      { name: '/.manifest', body: '{}' },
      { name: 'b.txt', body: 'b' },
    ]);
    const replaced = readTar(replaceTarFile(original, '/.manifest', Buffer.from('y'.repeat(600))));
    expect([...replaced.keys()]).toEqual(['/a.txt', '/.manifest', '/b.txt']);
    expect(replaced.get('/.manifest')?.toString()).toBe('y'.repeat(600));
    expect(replaced.get('/a.txt')?.toString()).toBe('x'.repeat(700));
    expect(replaced.get('/b.txt')?.toString()).toBe('b');
  });

  it('refuses a header with a bad checksum', () => {
    const bad = tar([{ name: '/.manifest', body: '{}' }]);
    bad[0] = bad[0]! ^ 1;
    const err = thrownBy(() => replaceTarFile(bad, '/.manifest', Buffer.from('')));
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toBe('bundle tar header is malformed');
  });

  it('refuses a tarball without that entry, or with it only behind a long-name header', () => {
    const err = thrownBy(() =>
      replaceTarFile(tar([{ name: 'a', body: 'a' }]), '/.manifest', Buffer.from('')),
    );
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toBe('bundle tar has no plain entry /.manifest to replace');
    const behindLongName = tar([
      { name: '././@LongLink', type: 'L', body: '/.manifest\0' },
      { name: '.manifest', body: '{}' },
    ]);
    expect(() => replaceTarFile(behindLongName, '/.manifest', Buffer.from(''))).toThrow(
      'no plain entry',
    );
  });
});

describe('manifest metadata.mcpgate in a bundle', () => {
  let tmp: string;
  let wasm: Buffer;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mcpgate-input-metadata-'));
    const file = join(tmp, 'normal.tar.gz');
    buildFixtureBundle('normal', file);
    wasm = readTar(gunzipSync(readFileSync(file))).get('/policy.wasm')!;
  });

  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  const withManifest = (manifest: unknown) =>
    parseBundle(
      gzipSync(
        tar([
          { name: '/policy.wasm', body: wasm },
          { name: '/.manifest', body: JSON.stringify(manifest) },
        ]),
      ),
      'sha256:test',
    );

  it('reads unread_input, and nothing when the manifest records nothing', () => {
    expect(
      withManifest({ metadata: { mcpgate: { unread_input: ['session.history'] } } }).unreadInput,
    ).toEqual(['session.history']);
    expect(withManifest({}).unreadInput).toEqual([]);
    expect(withManifest({ metadata: { other: 1 } }).unreadInput).toEqual([]);
    expect(withManifest({ metadata: { mcpgate: {} } }).unreadInput).toEqual([]);
    const engine = PolicyEngine.load(withManifest({ metadata: { other: 1 } }), {
      initialPages: 5,
      maxPages: 1024,
    });
    expect(engine.omitsHistory).toBe(false);
  });

  it.each([
    [{ metadata: 'x' }, 'bundle .manifest metadata must be an object'],
    [{ metadata: { mcpgate: [] } }, 'bundle .manifest metadata.mcpgate must be an object'],
    [
      { metadata: { mcpgate: { unread_input: 'session.history' } } },
      'bundle .manifest metadata.mcpgate.unread_input must be a list of input paths',
    ],
    [
      { metadata: { mcpgate: { unread_input: [1] } } },
      'bundle .manifest metadata.mcpgate.unread_input must be a list of input paths',
    ],
  ])('refuses a malformed record %j', (manifest, message) => {
    const err = thrownBy(() => withManifest(manifest));
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toBe(message);
  });
});
