// Fuzzing the bundle reader (parseBundle, as the gateway reads a bundle file or a bundle
// server's answer):
//
// 1. Generated bundles: a manifest (roots, wasm entrypoints, revision, metadata of every
//    shape), data.json and data.yaml files at generated paths with generated content (YAML
//    anchors, aliases, merge keys, tags, __proto__ keys), tar entries of every kind (PAX
//    path and size records, GNU long names, directories, links, "..", duplicates, a bad
//    checksum), then bytes of the tar or of the gzip stream changed, cut or added. The
//    answer is always a BundleError whose message starts with the source, or a bundle of
//    the right shape; Object.prototype is never changed.
// 2. A bundle signed with `opa sign` (HS256), tampered with: a file's body changed, a file
//    added or dropped, the manifest or .signatures.json changed, bytes of the tarball or the
//    gzip stream changed. With signing required, it is refused with a BundleError unless
//    what it yields is exactly what was signed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { SigningConfig } from '../../src/config/policy.js';
import { BundleError, parseBundle, type WasmBundle } from '../../src/policy/bundle/read.js';
import { runOpa } from '../../src/toolchain/opa.js';
import { paxPath, tar, type TarEntry } from '../unit/support/tar.js';
import { anyText } from './support/gateway.js';
import { checkProperty, must, mustKeepObjectPrototype, timeoutFor } from './support/property.js';

const RUNS = 10_000;
const SOURCE = 'fuzz-bundle';
const MAX_BYTES = 256 * 1024;
const SECRET = 'fuzz-signing-secret';
const SIGNING: SigningConfig = {
  required: true,
  keys: [{ keyId: 'default', algorithm: 'HS256', key: { kind: 'literal', value: SECRET } }],
  scope: undefined,
  excludeFiles: [],
};

let dir: string;
/** The signed bundle's files, in the order they are written to the tarball. */
let signedEntries: TarEntry[];
let signed: WasmBundle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-fuzz-bundle-'));
  // The reader does not compile the module: its bytes only have to be signed.
  const wasm = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  const bundleDir = join(dir, 'signed');
  mkdirSync(join(bundleDir, 'profiles/x'), { recursive: true });
  const files: Record<string, string | Buffer> = {
    '.manifest': JSON.stringify({
      revision: 'signed-1',
      roots: ['limits', 'profiles', 'mcp'],
      wasm: [{ entrypoint: 'mcp/authz/decision', module: '/policy.wasm' }],
    }),
    'policy.wasm': wasm,
    'data.json': '{"limits": {"max_calls": 7}}',
    'profiles/x/data.yaml': 'session: {purpose: x, ttl: 60}\ntools: {a.b: {allowed: true}}\n',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(bundleDir, name), body);
  const signing = runOpa(
    ['sign', '--signing-key', SECRET, '--signing-alg', 'HS256', '--bundle', '.'],
    { cwd: bundleDir },
  );
  expect(signing.stderr).toBe('');
  signedEntries = [...Object.keys(files), '.signatures.json'].map((name) => ({
    name,
    body: readFileSync(join(bundleDir, name)),
  }));
  signed = await parseBundle(gzipSync(tar(signedEntries)), {
    maxBytes: MAX_BYTES,
    source: SOURCE,
    signing: SIGNING,
  });
  expect(signed.signed).toBe(true);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** parseBundle's answer: the bundle, or its BundleError (any other error fails the property). */
async function read(bytes: Buffer, signing?: SigningConfig): Promise<WasmBundle | BundleError> {
  try {
    return await parseBundle(bytes, { maxBytes: MAX_BYTES, source: SOURCE, signing });
  } catch (err) {
    if (!(err instanceof BundleError)) throw err;
    must(err.message.startsWith(`${SOURCE}: `), () => `message without its source: ${err.message}`);
    return err;
  }
}

function checkShape(bundle: WasmBundle): void {
  const wrong = (what: string) => () => `bundle with ${what}: ${JSON.stringify(bundle.files)}`;
  must(bundle.wasm instanceof Uint8Array, wrong('no wasm bytes'));
  must(typeof bundle.revision === 'string', wrong('a revision that is not a string'));
  must(
    typeof bundle.data === 'object' && bundle.data !== null && !Array.isArray(bundle.data),
    wrong('data that is not an object'),
  );
  must(bundle.files.includes('/policy.wasm'), wrong('no /policy.wasm'));
  for (const file of bundle.files) {
    const segments = file.split('/').slice(1);
    must(file.startsWith('/'), wrong(`a relative file ${file}`));
    must(!segments.includes('..') && !segments.includes(''), wrong(`a file ${file}`));
  }
  must(bundle.files.join('\n') === [...bundle.files].sort().join('\n'), wrong('unsorted files'));
  must(
    bundle.entrypoints.every((e) => typeof e === 'string'),
    wrong('an entrypoint that is not a string'),
  );
  must(
    bundle.unreadInput.every((p) => typeof p === 'string'),
    wrong('unread input that is not a string'),
  );
}

// ---------------------------------------------------------------------------------------
// Generated bundles.

const pathSegment = fc.oneof(
  fc.constantFrom('a', 'b', 'mcp', 'profiles', 'x', '..', '.', '', '__proto__', 'constructor'),
  anyText(6),
);

const manifest = fc
  .oneof(
    {
      weight: 4,
      arbitrary: fc.record(
        {
          revision: fc.oneof(anyText(12), fc.jsonValue({ maxDepth: 1 })),
          roots: fc.oneof(
            fc.array(fc.constantFrom('a', 'b', 'a/b', '', 'mcp', 'profiles', 'x/y', '/a'), {
              maxLength: 4,
            }),
            fc.jsonValue({ maxDepth: 2 }),
          ),
          wasm: fc.oneof(
            fc.array(
              fc.record({
                entrypoint: fc.oneof(
                  fc.constantFrom('mcp/authz/decision', 'a/b', 'x', ''),
                  fc.jsonValue({ maxDepth: 1 }),
                ),
                module: fc.constant('/policy.wasm'),
              }),
              { maxLength: 3 },
            ),
            fc.jsonValue({ maxDepth: 2 }),
          ),
          metadata: fc.oneof(
            fc.record({
              mcpgate: fc.oneof(
                fc.record({
                  unread_input: fc.oneof(fc.array(anyText(12), { maxLength: 3 }), fc.jsonValue()),
                }),
                fc.jsonValue({ maxDepth: 2 }),
              ),
            }),
            fc.jsonValue({ maxDepth: 2 }),
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  )
  .map((value) => JSON.stringify(value) ?? 'null');

const yamlText = fc.oneof(
  fc.constantFrom(
    'a: &x {b: 1}\nc: *x\n',
    'a: &x [1, 2]\nb: [*x, *x, *x]\n',
    '<<: {a: 1}\nb: 2\n',
    '__proto__: {polluted: 1}\n',
    'constructor: {prototype: {polluted: 1}}\n',
    'a: !!binary aGVsbG8=\n',
    'a: !!js/function "function(){}"\n',
    'a: 1\na: 2\n',
    '- 1\n- 2\n',
    '"unterminated\n',
    'a: {b: [c: d]}\n',
    'a: 1.0\nb: 0x10\nc: 1e400\nd: .inf\n',
    '? [a, b]\n: c\n',
  ),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
  anyText(40),
);

const dataFile = fc.tuple(
  fc.array(pathSegment, { maxLength: 3 }),
  fc.constantFrom('data.json', 'data.yaml', 'data.yml'),
  fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
    fc.constantFrom('{"__proto__": {"polluted": 1}}', '{"a": 1, "a": 2}', '{"n": 1.0}'),
    yamlText,
  ),
);

/** Tar entries beyond the files: links, directories, PAX and GNU headers, duplicates. */
const oddEntry: fc.Arbitrary<TarEntry[]> = fc.oneof(
  fc.constantFrom<TarEntry[]>(
    [{ name: 'dir/', type: '5' }],
    [{ name: 'link', type: '2', body: '' }],
    [{ name: 'hard', type: '1' }],
    [{ name: 'policy.wasm', body: 'twice' }],
    [{ name: '../escape/data.json', body: '{}' }],
    [{ name: './a/../data.json', body: '{}' }],
    [{ name: '', body: '{}' }],
    [{ name: 'fifo', type: '6' }],
    [{ name: 'g', type: 'g', body: '20 path=global/data\n' }],
  ),
  fc
    .tuple(fc.constantFrom('data.json', '../x', 'a/data.yaml', '/abs/data.json', ''), fc.boolean())
    .map(([path, withSize]) => [
      {
        name: 'pax',
        type: 'x',
        body: paxPath(path) + (withSize ? '12 size=99\n' : ''),
      },
      { name: 'ignored', body: '{"x": 1}' },
    ]),
  fc.constantFrom('long/'.repeat(30) + 'data.json', '../long', 'a/data.json').map((name) => [
    { name: '././@LongLink', type: 'L', body: name },
    { name: 'short', body: '{}' },
  ]),
);

/** Bytes of a buffer changed, cut or added. */
const byteChange = fc.tuple(
  fc.constantFrom('flip', 'set', 'cut', 'append', 'insert'),
  fc.nat(),
  fc.integer({ min: 0, max: 255 }),
);

function changeBytes(bytes: Buffer, [how, at, value]: [string, number, number]): Buffer {
  const i = bytes.length === 0 ? 0 : at % bytes.length;
  switch (how) {
    case 'flip': {
      const out = Buffer.from(bytes);
      if (out.length > 0) out[i] = out[i]! ^ (1 << (value % 8));
      return out;
    }
    case 'set': {
      const out = Buffer.from(bytes);
      if (out.length > 0) out[i] = value;
      return out;
    }
    case 'cut':
      return bytes.subarray(0, i);
    case 'append':
      return Buffer.concat([bytes, Buffer.alloc((value % 4) * 512 + 1, value)]);
    default:
      return Buffer.concat([bytes.subarray(0, i), Buffer.from([value]), bytes.subarray(i)]);
  }
}

const generatedBundle = fc
  .record({
    manifest: fc.option(manifest, { nil: undefined, freq: 6 }),
    wasm: fc.constantFrom(true, true, true, false),
    data: fc.array(dataFile, { maxLength: 3 }),
    odd: fc.array(oddEntry, { maxLength: 2 }),
    layer: fc.constantFrom('none', 'none', 'tar', 'gzip'),
    changes: fc.array(byteChange, { minLength: 1, maxLength: 3 }),
  })
  .map(({ manifest: m, wasm, data, odd, layer, changes }) => {
    const entries: TarEntry[] = [];
    if (m !== undefined) entries.push({ name: '.manifest', body: m });
    if (wasm) entries.push({ name: 'policy.wasm', body: Buffer.from([0, 0x61, 0x73, 0x6d]) });
    for (const [segments, name, body] of data) {
      entries.push({ name: [...segments, name].join('/'), body });
    }
    for (const more of odd) entries.push(...more);
    let tarBytes: Buffer;
    try {
      tarBytes = tar(entries);
    } catch {
      // A name the test's tar writer cannot hold (over 100 bytes): leave it out.
      tarBytes = tar(entries.filter((e) => Buffer.byteLength(e.name) <= 100));
    }
    if (layer === 'tar') tarBytes = changes.reduce(changeBytes, tarBytes);
    let gz: Buffer = gzipSync(tarBytes, { level: 1 });
    if (layer === 'gzip') gz = changes.reduce(changeBytes, gz);
    return gz;
  });

// ---------------------------------------------------------------------------------------
// Tampering with the signed bundle.

const tampering = fc.oneof(
  fc
    .tuple(
      fc.nat(),
      fc.oneof(
        anyText(20),
        fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? ''),
      ),
    )
    .map(
      ([which, body]) =>
        (entries: TarEntry[]) =>
          entries.map((e, i) => (i === which % entries.length ? { ...e, body } : e)),
    ),
  fc
    .nat()
    .map(
      (which) => (entries: TarEntry[]) => entries.filter((_, i) => i !== which % entries.length),
    ),
  fc
    .tuple(
      fc.constantFrom(
        'x/data.json',
        'limits/data.json',
        'data.yaml',
        'profiles/y/data.yaml',
        '.manifest',
      ),
      fc.constantFrom(
        '{"max_calls": 1000}',
        'session: {purpose: y}\n',
        '{}',
        '{"limits": {"x": 1}}',
      ),
    )
    .map(([name, body]) => (entries: TarEntry[]) => [...entries, { name, body }]),
  fc.tuple(fc.nat(), byteChange).map(
    ([which, change]) =>
      (entries: TarEntry[]) =>
        entries.map((e, i) =>
          i === which % entries.length
            ? { ...e, body: changeBytes(Buffer.from(e.body ?? ''), change) }
            : e,
        ),
  ),
);

const tamperedBundle = fc
  .tuple(
    fc.array(tampering, { minLength: 1, maxLength: 2 }),
    fc.constantFrom('none', 'none', 'tar', 'gzip'),
    fc.array(byteChange, { minLength: 1, maxLength: 2 }),
  )
  .map(([changes, layer, bytes]) => {
    const entries = changes.reduce((acc, change) => change(acc), signedEntries);
    let tarBytes: Buffer = tar(entries);
    if (layer === 'tar') tarBytes = bytes.reduce(changeBytes, tarBytes);
    let gz: Buffer = gzipSync(tarBytes, { level: 1 });
    if (layer === 'gzip') gz = bytes.reduce(changeBytes, gz);
    return gz;
  });

describe('the bundle reader', () => {
  it(
    'answers every generated bundle with a BundleError or a bundle of the right shape',
    async () => {
      await checkProperty(
        'bundle-generated',
        fc.asyncProperty(generatedBundle, async (bytes) => {
          const answer = await read(bytes);
          if (!(answer instanceof BundleError)) checkShape(answer);
          mustKeepObjectPrototype();
        }),
        RUNS,
      );
    },
    timeoutFor(RUNS, 60_000),
  );

  it(
    'refuses a tampered signed bundle unless it yields exactly what was signed',
    async () => {
      await checkProperty(
        'bundle-signed-tampering',
        fc.asyncProperty(tamperedBundle, async (bytes) => {
          const answer = await read(bytes, SIGNING);
          if (answer instanceof BundleError) return;
          checkShape(answer);
          const yielded = [answer.wasm, answer.data, answer.entrypoints, answer.revision];
          const original = [signed.wasm, signed.data, signed.entrypoints, signed.revision];
          must(
            isDeepStrictEqual(yielded, original) &&
              isDeepStrictEqual(answer.unreadInput, signed.unreadInput),
            () => `accepted a tampered bundle: ${JSON.stringify(answer.data)}`,
          );
        }),
        RUNS,
      );
    },
    timeoutFor(RUNS, 60_000),
  );
});
