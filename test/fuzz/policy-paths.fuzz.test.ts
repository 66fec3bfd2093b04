// Fuzzing the path and scope facts of the shipped policy as the gateway evaluates them (the
// built bundle, in wasm): generated paths for the code-review purpose's filesystem tools
// (read_file: src/**/*.{ts,tsx} without .env* and secrets*; list_directory: src and below;
// read_multiple_files: each of paths[]), built from segments with path tricks (./, //, ..,
// ~, drive letters, backslashes, control characters), percent-encodings, Unicode
// look-alikes and compatibility characters, case changes, Windows spellings (short names
// too) and composed or decomposed accents.
//
// Invariants:
// - a path with a trick that can change its target (paths.target_tricks of
//   rego/mcp/lib/paths.rego: absolute, ~, drive letters, "..", backslashes, control
//   characters, Windows short names, any percent-encoding, look-alikes of /, \ or ., any
//   character NFKC changes) is never allowed (a model of them in TypeScript decides which
//   paths have one);
// - no allow where the normalised equivalent is denied: when a path is allowed, so is what a
//   file system or server would open for it: the POSIX resolution of ., .. and // (the
//   policy matches "./src/a.ts" and "src//a.ts" as "src/a.ts"), the same name in lower case
//   (case-insensitive volumes), the Windows reading (\ as separator, trailing dots and
//   spaces dropped, ::$DATA dropped), its NFC and NFD forms (macOS volumes), its NFKC form
//   (a server that normalises, a Windows best-fit conversion) and its percent-decoding (a
//   server that decodes). A short name's long name is not something a lexical check can
//   know: short names are refused as tricks.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { join } from 'node:path';
import fc from 'fast-check';
import { readBundleFile } from '../../src/policy/bundle/read.js';
import { DECISION_ENTRYPOINT, PolicyEngine } from '../../src/policy/engine.js';
import { checkProperty, ROOT, timeoutFor } from './support/property.js';

const RUNS = 10_000;

interface PolicyCase {
  name: string;
  input: Record<string, unknown>;
}

let engine: PolicyEngine;
let template: Record<string, unknown>;

beforeAll(() => {
  engine = PolicyEngine.load(readBundleFile(join(ROOT, 'wasm/bundle.tar.gz')), {
    initialPages: 5,
    maxPages: 1024,
  });
  const cases = JSON.parse(readFileSync(join(ROOT, 'rego/tests/cases.json'), 'utf8')) as {
    cases: PolicyCase[];
  };
  // An allowed filesystem.read_file of the code-review purpose: identity, session, request.
  const found = cases.cases.find((c) => c.name === 'read_file: nested ts under src');
  if (!found) throw new Error('rego/tests/cases.json has no case "read_file: nested ts under src"');
  template = found.input;
});

type Tool = 'read_file' | 'list_directory' | 'read_multiple_files';

/** Whether the shipped policy allows `tool` on `path` (as the only path of the call). */
function allowed(tool: Tool, path: string): boolean {
  const args = tool === 'read_multiple_files' ? { paths: ['src/a.ts', path] } : { path };
  const input = {
    ...template,
    tool: { ...(template.tool as Record<string, unknown>), name: tool, id: `filesystem.${tool}` },
    arguments: args,
  };
  const decision = engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify(input)) as {
    allow: boolean;
  };
  return decision.allow;
}

// ---------------------------------------------------------------------------------------
// The tricks of rego/mcp/lib/paths.rego, as a model.

/** Characters rego/mcp/lib/paths.rego refuses because they stand for or look like /, \ or . */
const LOOK_ALIKES = [
  '\u2215',
  '\u2044',
  '\uff0f',
  '\u29f8',
  '\u2571',
  '\uff3c',
  '\u2216',
  '\ufe68',
  '\u29f9',
  '\uff0e',
  '\u2024',
  '\u2025',
  '\ufe52',
];

/**
 * Whether the path has one of the tricks that can change its target (paths.target_tricks
 * with no served roots): absolute, ~, a drive letter, "..", a backslash, a control
 * character, a Windows short name (~ and a digit in a segment), any percent-encoding, a
 * look-alike of /, \ or ., a character NFKC changes ("." segments and empty segments are
 * harmless spellings: the scope is matched against the path they mean).
 */
function hasTrick(path: string): boolean {
  const segments = path.split('/');
  const drive = path.includes(':') && /^[A-Za-z]$/.test(path.split(':')[0] ?? '');
  return (
    path.startsWith('/') ||
    path.startsWith('~') ||
    drive ||
    segments.includes('..') ||
    path.includes('\\') ||
    [...path].some((c) => (c.codePointAt(0) ?? 0) < 0x20 || c === '\u007f') ||
    segments.some((s) => /~[0-9]/.test(s)) ||
    /%[0-9a-f]{2}/i.test(path) ||
    LOOK_ALIKES.some((c) => path.includes(c)) ||
    [...path].some((c) => c.normalize('NFKC') !== c)
  );
}

// ---------------------------------------------------------------------------------------
// What a file system opens for a path.

/** POSIX: ., .. and empty segments resolved; undefined when it leaves the root or is empty. */
function posixResolved(path: string): string | undefined {
  const resolved = posix.normalize(path).replace(/^\.\//, '').replace(/\/+$/, '');
  if (resolved === '' || resolved === '.' || resolved === '..' || resolved.startsWith('../')) {
    return undefined;
  }
  return resolved;
}

/** Windows: \ separates, a segment's trailing dots and spaces and a ::$DATA suffix are dropped. */
function windowsReading(path: string): string | undefined {
  const segments = path
    .replace(/::\$DATA$/i, '')
    .split(/[\\/]/)
    .map((s) => (s === '.' || s === '..' ? s : s.replace(/[. ]+$/, '')));
  return posixResolved(segments.join('/'));
}

/** A server that decodes percent-encoding; undefined when the path does not decode. */
function percentDecoded(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

const READINGS: Array<[string, (path: string) => string | undefined]> = [
  ['POSIX resolution', posixResolved],
  ['lower case', (p) => p.toLowerCase()],
  ['Windows', windowsReading],
  ['NFC', (p) => p.normalize('NFC')],
  ['NFD', (p) => p.normalize('NFD')],
  ['NFKC', (p) => p.normalize('NFKC')],
  ['percent-decoded', percentDecoded],
];

// ---------------------------------------------------------------------------------------
// Generated paths.

const SEGMENTS = {
  plain: ['src', 'lib', 'a', 'docs', 'node_modules', '.git', 'a.ts', 'b.tsx', 'c.js', 'x.TS'],
  sensitive: [
    'secrets.ts',
    'secrets',
    'Secrets',
    'SECRETS.TS',
    '.env',
    '.env.local',
    '.ENV',
    '.env.ts',
  ],
  tricks: ['..', '.', '', '~', 'C:', 'c:', 'a\\b.ts', 'a\u0000.ts', 'a\u007f.ts', 'a\n.ts'],
  encoded: [
    '%2e%2e',
    '%2E',
    '..%2f',
    'a%2Fb.ts',
    '%00',
    '%2e%2e%2f.env.ts',
    'src%2F..%2F.env.ts',
    '%73ecrets.ts', // secrets.ts, decoded
    '%2Eenv.ts',
    'a%20b.ts',
    '100%.ts', // a percent sign, not an encoding
    'a%zz.ts',
  ],
  lookAlike: [
    '\u0455rc', // Cyrillic dze: "ѕrc"
    '\uff53\uff52\uff43', // fullwidth "ｓｒｃ"
    '\uff0e\uff0e', // fullwidth ".."
    '\u2024\u2024', // one dot leaders
    '\uff0eenv.ts',
    'secrets\u200b.ts', // zero-width space
    '.env\u00ad.ts', // soft hyphen
    '\u202ests.terces', // right-to-left override
    'a\u2215b.ts', // division slash
    'a\uff0fb.ts', // fullwidth solidus
    '\uff53ecrets.ts', // fullwidth s: secrets.ts under NFKC
    '\u{1d42c}ecrets.ts', // mathematical bold s
    '\ufb01le.ts', // the ligature fi
    '\u212aey.ts', // Kelvin sign: K
    'a\u00a0b.ts', // no-break space
    'x\u00b2.ts', // superscript two
  ],
  windows: [
    'a.ts.',
    'a.ts ',
    'secrets.ts.',
    '.env .ts',
    'a.ts::$DATA',
    'SECRET~1.TS',
    'secret~1.ts',
    'SECRE~12.ts',
    'A~1.TS',
    'a~b.ts', // a tilde, not a short name
  ],
  accents: ['caf\u00e9.ts', 'cafe\u0301.ts', 'se\u0301crets.ts', '\u00e9.env.ts'],
};

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SEGMENTS.plain) },
  { weight: 3, arbitrary: fc.constantFrom(...SEGMENTS.sensitive) },
  { weight: 2, arbitrary: fc.constantFrom(...SEGMENTS.tricks) },
  { weight: 2, arbitrary: fc.constantFrom(...SEGMENTS.encoded) },
  { weight: 2, arbitrary: fc.constantFrom(...SEGMENTS.lookAlike) },
  { weight: 2, arbitrary: fc.constantFrom(...SEGMENTS.windows) },
  { weight: 1, arbitrary: fc.constantFrom(...SEGMENTS.accents) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
);

/** One change to an allowed path: a segment added or replaced, a separator, a prefix or suffix. */
type Change = [
  kind: 'insert' | 'replace' | 'separator' | 'prefix' | 'suffix',
  at: number,
  value: string,
];

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.tuple(fc.constantFrom('insert' as const, 'replace' as const), fc.nat(), segment),
  fc.tuple(fc.constant('separator' as const), fc.nat(), fc.constantFrom('//', '\\', '/./', '/../')),
  fc.tuple(
    fc.constant('prefix' as const),
    fc.nat(),
    fc.constantFrom('/', './', '~/', 'C:\\', '//', '../'),
  ),
  fc.tuple(
    fc.constant('suffix' as const),
    fc.nat(),
    fc.constantFrom('/', '/.', '.', ' ', '::$DATA', '\u0000'),
  ),
);

function applyChange(path: string, [kind, at, value]: Change): string {
  const segments = path.split('/');
  const i = at % segments.length;
  switch (kind) {
    case 'insert':
      return [...segments.slice(0, i), value, ...segments.slice(i)].join('/');
    case 'replace':
      return [...segments.slice(0, i), value, ...segments.slice(i + 1)].join('/');
    case 'separator':
      return segments.slice(0, i + 1).join('/') + value + segments.slice(i + 1).join('/');
    case 'prefix':
      return value + path;
    case 'suffix':
      return path + value;
  }
}

/** An allowed path (src/, some directories, a .ts or .tsx file) changed up to three times. */
const path: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .tuple(
        fc.array(fc.constantFrom('a', 'lib', 'components', 'util'), { maxLength: 3 }),
        fc.constantFrom('a.ts', 'b.tsx', 'index.ts', 'c'),
        fc.array(change, { maxLength: 3 }),
      )
      .map(([dirs, file, changes]) =>
        changes.reduce(applyChange, ['src', ...dirs, file].join('/')),
      ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
);

const tool = fc.constantFrom<Tool>('read_file', 'list_directory', 'read_multiple_files');

describe('the shipped policy on generated paths, in wasm', () => {
  it(
    'never allows a path trick, nor a path whose file-system reading is denied',
    async () => {
      await checkProperty(
        'policy-paths',
        fc.property(tool, path, (name, p) => {
          if (!allowed(name, p)) return;
          if (hasTrick(p)) throw new Error(`${name} allowed ${JSON.stringify(p)}, a path trick`);
          for (const [reading, read] of READINGS) {
            const equivalent = read(p);
            if (equivalent === undefined || equivalent === p) continue;
            if (!allowed(name, equivalent)) {
              throw new Error(
                `${name} allowed ${JSON.stringify(p)} but denies its ${reading} reading ` +
                  JSON.stringify(equivalent),
              );
            }
          }
        }),
        RUNS,
      );
    },
    timeoutFor(RUNS, 60_000),
  );

  it('allows the plain paths the generated ones are made of, and denies the tricks', () => {
    // The property above is only as strong as its allowed cases: these must be allowed.
    expect(allowed('read_file', 'src/a.ts')).toBe(true);
    expect(allowed('read_file', 'src/lib/b.tsx')).toBe(true);
    expect(allowed('list_directory', 'src')).toBe(true);
    expect(allowed('read_multiple_files', 'src/a/index.ts')).toBe(true);
    // Harmless spellings of an allowed path, matched as the path they mean, and names that
    // only resemble a trick.
    for (const p of ['src//a.ts', './src/a.ts', 'src/./lib/b.tsx', 'src/100%.ts', 'src/a~b.ts']) {
      expect([p, allowed('read_file', p)]).toEqual([p, true]);
    }
    for (const p of [
      'src/../.env',
      'src/secrets.ts',
      '/src/a.ts',
      'src/%2e%2e/a.ts',
      'src\uff0fa.ts',
      // What a server that decodes or normalises, or Windows, would open as src/secrets.ts.
      'src/%73ecrets.ts',
      'src/\uff53ecrets.ts',
      'src/SECRET~1.ts',
    ]) {
      expect([p, allowed('read_file', p)]).toEqual([p, false]);
    }
  });
});
