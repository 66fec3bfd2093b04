// Bundle signatures end to end: bundles built and signed by the real OPA CLI (opa build
// --signing-key with RS256, ES256, HS256, a scope claim; opa sign on a bundle directory
// with data.json, data.yaml and data.yml), verified by parseBundle, then tampered with
// byte by byte and refused. Where practical OPA itself is asked to verify the same bundle
// (opa build --bundle --verification-key), so both verifiers are seen to agree. Also: the
// canonical hashing of structured files, size limits and gzip bombs, data merging,
// manifest roots and tar path rules.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { CompactSign } from 'jose';
import type { SigningConfig } from '../../src/config/policy.js';
import type { ValueSource } from '../../src/config/secrets.js';
import {
  BundleError,
  parseBundle,
  readBundleFile,
  readTar,
  type WasmBundle,
} from '../../src/policy/bundle/read.js';
import {
  canonicalText,
  parseLosslessJson,
  parseStructured,
} from '../../src/policy/bundle/canonical.js';
import { fileDigest, matchesGlob } from '../../src/policy/bundle/signature.js';
import { DECISION_ENTRYPOINT, PolicyEngine, VISIBLE_ENTRYPOINT } from '../../src/policy/engine.js';
import { opaBinary } from '../../src/util/paths.js';
import { CAPABILITIES } from './support/opa.js';
import { tar, type TarEntry } from './support/tar.js';

const POLICY = `package mcp.authz

decision := {"allow": input.subject == data.cfg.owner, "reasons": [], "obligations": {}}

visible := true
`;

// Numbers whose literal text matters, HTML characters, control characters, U+2028/9,
// astral characters, and keys whose UTF-16 order differs from their UTF-8 byte order.
const TRICKY_DATA_JSON = `{
  "cfg": {
    "owner": "alice",
    "x": 1.0, "e": 1e2, "E": 1E+2, "big": 12345678901234567890, "neg": -0.0, "small": 1e-7,
    "text": "<script>&amp; \\u2028 \\u2029 \\u0007 \\b\\f\\n\\r\\t \\" \\\\ \\/ é 😀 \\ud83d\\ude00 \\u001f \\u007f",
    "keys": {"b": 1, "a": 2, "é": 3, "Z": 4, "\\ue000": 5, "😀": 6, "a\\"b": 7}
  }
}
`;
const DATA_YAML = `y:
  f: 1.0
  e: 1e2
  i: 12345678901234567890
  huge: 123456789012345678901234
  octal: 017
  under: 1_000
  s: "<&>"
  b: yes
  list: [2, 1]
`;
const DATA_YML = `q: 1.50\n`;
const HMAC_SECRET = 'bundle-hmac-secret-0123456789abcdef';
const MAX = 16 * 1024 * 1024;
const MEMORY = { initialPages: 5, maxPages: 1024 };

let dir: string;
const keys = { rsaPriv: '', rsaPub: '', ecPriv: '', ecPub: '', otherRsaPub: '', ecPubAsRsa: '' };
const bundles = {
  rs256: '',
  es256: '',
  hs256: '',
  scoped: '',
  unsigned: '',
  signedDir: '',
};

function opa(args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync(opaBinary(), args, { cwd, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function mustOpa(args: string[], cwd: string): void {
  const { status, output } = opa(args, cwd);
  if (status !== 0) throw new Error(`opa ${args.join(' ')} failed:\n${output}`);
}

const buildArgs = [
  'build',
  '-b',
  '-t',
  'wasm',
  '-e',
  DECISION_ENTRYPOINT,
  '-e',
  VISIBLE_ENTRYPOINT,
  '--capabilities',
  CAPABILITIES,
];

function writePem(name: string, pem: string): string {
  const path = join(dir, name);
  writeFileSync(path, pem);
  return path;
}

function fileKey(keyId: string, algorithm: string, path: string): SigningConfig['keys'][number] {
  return { keyId, algorithm, key: { kind: 'file', path } };
}

function signingWith(
  signingKeys: SigningConfig['keys'],
  extra: Partial<SigningConfig> = {},
): SigningConfig {
  return { required: true, keys: signingKeys, scope: undefined, excludeFiles: [], ...extra };
}

const rsaSigning = (extra: Partial<SigningConfig> = {}): SigningConfig =>
  signingWith([fileKey('default', 'RS256', keys.rsaPub)], extra);

function parse(bytes: Buffer, signing?: SigningConfig): Promise<WasmBundle> {
  return parseBundle(bytes, { maxBytes: MAX, signing, source: 'test-bundle' });
}

async function refusal(bytes: Buffer, signing?: SigningConfig, maxBytes = MAX): Promise<string> {
  try {
    await parseBundle(bytes, { maxBytes, signing, source: 'test-bundle' });
  } catch (err) {
    expect(err).toBeInstanceOf(BundleError);
    return (err as Error).message;
  }
  throw new Error('expected the bundle to be refused');
}

/** The files of a .tar.gz, by normalised path, in archive order. */
function filesOf(path: string): Map<string, Buffer> {
  return readTar(gunzipSync(readFileSync(path)));
}

/** Re-packs files (normalised paths) as OPA does: names with a leading "/". */
function pack(files: Map<string, Buffer | string>): Buffer {
  const entries: TarEntry[] = [...files].map(([name, body]) => ({ name, body }));
  return gzipSync(tar(entries));
}

function tampered(path: string, change: (files: Map<string, Buffer | string>) => void): Buffer {
  const files = new Map<string, Buffer | string>(filesOf(path));
  change(files);
  return pack(files);
}

/** OPA's own verdict: `opa build --bundle <file> --verification-key ...`. */
function opaVerifies(bundle: Buffer, verifyArgs: string[]): { ok: boolean; output: string } {
  const input = join(dir, `opa-verify-${Math.random().toString(36).slice(2)}.tar.gz`);
  writeFileSync(input, bundle);
  const { status, output } = opa(
    ['build', '-b', input, '-o', `${input}.out.tar.gz`, ...verifyArgs],
    dir,
  );
  return { ok: status === 0, output };
}

function jwsParts(bundle: Buffer): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const sigs = JSON.parse(
    readTar(gunzipSync(bundle)).get('/.signatures.json')?.toString() ?? '',
  ) as {
    signatures: string[];
  };
  const [h = '', p = ''] = (sigs.signatures[0] ?? '').split('.');
  const decode = (s: string): Record<string, unknown> =>
    JSON.parse(Buffer.from(s, 'base64url').toString()) as Record<string, unknown>;
  return { header: decode(h), payload: decode(p) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-bundle-sig-'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  keys.rsaPriv = writePem(
    'rsa.pem',
    rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
  keys.rsaPub = writePem(
    'rsa.pub.pem',
    rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  );
  keys.otherRsaPub = writePem(
    'other.pub.pem',
    otherRsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  );
  keys.ecPriv = writePem(
    'ec.pem',
    ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
  keys.ecPub = writePem(
    'ec.pub.pem',
    ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  );

  // The policy source tree: rego, a tricky data.json, data.yaml below it.
  const src = join(dir, 'src');
  mkdirSync(join(src, 'more'), { recursive: true });
  writeFileSync(join(src, 'policy.rego'), POLICY);
  writeFileSync(join(src, 'data.json'), TRICKY_DATA_JSON);
  writeFileSync(join(src, 'more', 'data.yaml'), 'extra:\n  n: 2.50\n  s: "<&>"\n');

  const build = (out: string, extra: string[]): string => {
    const path = join(dir, out);
    mustOpa([...buildArgs, ...extra, '-o', path, '.'], src);
    return path;
  };
  bundles.rs256 = build('rs256.tar.gz', ['--signing-key', keys.rsaPriv, '--signing-alg', 'RS256']);
  bundles.es256 = build('es256.tar.gz', ['--signing-key', keys.ecPriv, '--signing-alg', 'ES256']);
  bundles.hs256 = build('hs256.tar.gz', ['--signing-key', HMAC_SECRET, '--signing-alg', 'HS256']);
  const claims = join(dir, 'claims.json');
  writeFileSync(claims, JSON.stringify({ scope: 'write', iss: 'mcpgate-test' }));
  bundles.scoped = build('scoped.tar.gz', ['--signing-key', keys.rsaPriv, '--claims-file', claims]);
  bundles.unsigned = build('unsigned.tar.gz', []);

  // A bundle directory signed later with `opa sign`: data files kept as written (opa build
  // would merge them into one /data.json), a manifest with roots, the compiled policy.
  const signDir = join(dir, 'signdir');
  for (const sub of ['a', 'b', 'c']) mkdirSync(join(signDir, sub), { recursive: true });
  writeFileSync(join(signDir, 'policy.wasm'), filesOf(bundles.unsigned).get('/policy.wasm') ?? '');
  writeFileSync(
    join(signDir, '.manifest'),
    JSON.stringify({
      revision: 'signed-dir-1',
      roots: ['a', 'b', 'c', 'cfg', 'mcp'],
      wasm: [
        { entrypoint: DECISION_ENTRYPOINT, module: '/policy.wasm' },
        { entrypoint: VISIBLE_ENTRYPOINT, module: '/policy.wasm' },
      ],
      n: 1.0,
    }).replace('"n":1', '"n":1.0'),
  );
  writeFileSync(join(signDir, 'data.json'), '{"a": {"fromRoot": true}, "cfg": {"owner": "bob"}}');
  writeFileSync(join(signDir, 'a', 'data.json'), TRICKY_DATA_JSON);
  writeFileSync(join(signDir, 'b', 'data.yaml'), DATA_YAML);
  writeFileSync(join(signDir, 'c', 'data.yml'), DATA_YML);
  mustOpa(['sign', '--signing-key', keys.rsaPriv, '--bundle', '.'], signDir);
  const signed = new Map<string, Buffer>();
  for (const name of [
    '.manifest',
    '.signatures.json',
    'data.json',
    'a/data.json',
    'b/data.yaml',
    'c/data.yml',
    'policy.wasm',
  ]) {
    signed.set(`/${name}`, readFileSync(join(signDir, name)));
  }
  bundles.signedDir = join(dir, 'signed-dir.tar.gz');
  writeFileSync(bundles.signedDir, pack(signed));
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('bundles signed by opa build are accepted', () => {
  it('RS256: verified, keyId from the kid header, data and entrypoints read, OPA agrees', async () => {
    const bytes = readFileSync(bundles.rs256);
    expect(jwsParts(bytes).header).toMatchObject({ alg: 'RS256', kid: 'default' });
    const bundle = await parse(bytes, rsaSigning());
    expect(bundle.signed).toBe(true);
    expect(bundle.keyId).toBe('default');
    expect(bundle.files).toEqual([
      '/.manifest',
      '/.signatures.json',
      '/data.json',
      '/policy.rego',
      '/policy.wasm',
    ]);
    expect(bundle.entrypoints.sort()).toEqual([DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT]);
    expect(bundle.data).toMatchObject({
      cfg: { owner: 'alice', x: 1, e: 100, small: 1e-7 },
      more: { extra: { n: 2.5, s: '<&>' } },
    });
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(true);

    const engine = PolicyEngine.load(bundle, MEMORY);
    expect(engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify({ subject: 'alice' }))).toEqual({
      allow: true,
      reasons: [],
      obligations: {},
    });
  });

  it('opa build rewrote data.json (HTML-escaped), so only canonical hashing can verify it', () => {
    const written = filesOf(bundles.rs256).get('/data.json')?.toString() ?? '';
    expect(written).toContain('\\u003cscript\\u003e');
    expect(written).toContain('1.0'); // number literals survive the rewrite
    const canonical = canonicalText(parseStructured(written));
    expect(canonical).toContain('"<script>&amp; \\u2028 \\u2029 \\u0007 \\b\\f\\n\\r\\t');
    expect(canonical).toContain('"big":12345678901234567890');
    expect(canonical).toContain('"neg":-0.0');
  });

  it('ES256 with the EC public key', async () => {
    const bytes = readFileSync(bundles.es256);
    const bundle = await parse(bytes, signingWith([fileKey('default', 'ES256', keys.ecPub)]));
    expect(bundle.signed).toBe(true);
    expect(
      opaVerifies(bytes, ['--verification-key', keys.ecPub, '--signing-alg', 'ES256']).ok,
    ).toBe(true);
  });

  it('HS256 with the shared secret read from an environment variable', async () => {
    const bytes = readFileSync(bundles.hs256);
    process.env.MCPGATE_TEST_BUNDLE_HMAC = HMAC_SECRET;
    try {
      const key: ValueSource = { kind: 'env', name: 'MCPGATE_TEST_BUNDLE_HMAC' };
      const bundle = await parse(
        bytes,
        signingWith([{ keyId: 'default', algorithm: 'HS256', key }]),
      );
      expect(bundle.signed).toBe(true);
    } finally {
      delete process.env.MCPGATE_TEST_BUNDLE_HMAC;
    }
    expect(
      opaVerifies(bytes, ['--verification-key', HMAC_SECRET, '--signing-alg', 'HS256']).ok,
    ).toBe(true);
  });

  it('with several keys configured, the kid picks the key (and its algorithm)', async () => {
    const both = signingWith([
      fileKey('ec-key', 'ES256', keys.ecPub),
      fileKey('default', 'RS256', keys.rsaPub),
    ]);
    expect((await parse(readFileSync(bundles.rs256), both)).keyId).toBe('default');
  });

  it('a scoped bundle is accepted when policy.signing.scope matches', async () => {
    const bytes = readFileSync(bundles.scoped);
    expect(jwsParts(bytes).payload).toMatchObject({ scope: 'write', iss: 'mcpgate-test' });
    expect((await parse(bytes, rsaSigning({ scope: 'write' }))).signed).toBe(true);
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub, '--scope', 'write']).ok).toBe(
      true,
    );
  });
});

describe('a bundle signed by opa sign (data.json, data.yaml, data.yml kept as written)', () => {
  it('has no kid; the only configured key is used, whatever its key_id', async () => {
    const bytes = readFileSync(bundles.signedDir);
    expect(jwsParts(bytes).header.kid).toBeUndefined();
    const bundle = await parse(bytes, signingWith([fileKey('release-key', 'RS256', keys.rsaPub)]));
    expect(bundle.signed).toBe(true);
    expect(bundle.keyId).toBe('release-key');
    expect(bundle.revision).toBe('signed-dir-1');
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(true);
  });

  it('deep-merges data.json files, data.yaml and data.yml at their paths, as OPA loads them', async () => {
    const bundle = await parse(readFileSync(bundles.signedDir), rsaSigning());
    expect(bundle.data).toMatchObject({
      cfg: { owner: 'bob' },
      a: { fromRoot: true, cfg: { owner: 'alice', x: 1, big: Number('12345678901234567890') } },
      b: {
        y: { f: 1, e: 100, octal: 15, under: 1000, s: '<&>', b: 'yes', list: [2, 1] },
      },
      c: { q: 1.5 },
    });
    // OPA's view of the same data files (this OPA evaluates no wasm: data files only).
    const dataOnly = new Map<string, Buffer | string>(
      [...filesOf(bundles.signedDir)].filter(([name]) => /\/data\.(json|ya?ml)$/.test(name)),
    );
    const input = join(dir, 'eval-data-only.tar.gz');
    writeFileSync(input, pack(dataOnly));
    const result = spawnSync(opaBinary(), ['eval', '-b', input, 'data', '-f', 'raw'], {
      encoding: 'utf8',
    });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    const opaData = JSON.parse(result.stdout) as Record<string, unknown>;
    for (const key of ['a', 'b', 'c', 'cfg']) expect(bundle.data[key]).toEqual(opaData[key]);
  });

  it('needs a key named in the token when several keys are configured', async () => {
    const message = await refusal(
      readFileSync(bundles.signedDir),
      signingWith([fileKey('one', 'RS256', keys.rsaPub), fileKey('two', 'RS256', keys.rsaPub)]),
    );
    expect(message).toContain('names no key');
    expect(message).toContain('one, two');
  });

  it('a reformatted data.yaml / data.json still verifies (canonical hashing), in OPA too', async () => {
    const bytes = tampered(bundles.signedDir, (files) => {
      files.set(
        '/b/data.yaml',
        DATA_YAML.replace('f: 1.0', 'f:    1.00').replace('[2, 1]', '[2,1]'),
      );
      files.set(
        '/a/data.json',
        JSON.stringify(JSON.parse(TRICKY_DATA_JSON))
          .replace('"x":1', '"x":1.0')
          .replace('"e":100', '"e":1e2')
          .replace('"E":100', '"E":1E+2')
          .replace('"neg":0', '"neg":-0.0')
          .replace('"big":12345678901234567000', '"big":12345678901234567890'),
      );
    });
    expect((await parse(bytes, rsaSigning())).signed).toBe(true);
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(true);
  });

  it('a data.json number written differently (1.0 -> 1) is a change, for OPA too', async () => {
    const bytes = tampered(bundles.signedDir, (files) => {
      files.set('/a/data.json', TRICKY_DATA_JSON.replace('"x": 1.0', '"x": 1'));
    });
    expect(await refusal(bytes, rsaSigning())).toContain('bundle file /a/data.json does not match');
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(false);
  });

  it('data.yml is canonical too: reformatting passes, a changed value does not', async () => {
    const same = tampered(bundles.signedDir, (files) => files.set('/c/data.yml', 'q:   1.5\n'));
    expect((await parse(same, rsaSigning())).signed).toBe(true);
    const changed = tampered(bundles.signedDir, (files) => files.set('/c/data.yml', 'q: 1.6\n'));
    expect(await refusal(changed, rsaSigning())).toContain('/c/data.yml does not match');
  });
});

describe('tampered or mis-signed bundles are refused', () => {
  it('a changed byte of policy.wasm, naming the file (OPA refuses it too)', async () => {
    const bytes = tampered(bundles.rs256, (files) => {
      const wasm = Buffer.from(files.get('/policy.wasm') ?? '');
      wasm[wasm.length - 1] = (wasm[wasm.length - 1] ?? 0) ^ 0xff;
      files.set('/policy.wasm', wasm);
    });
    const message = await refusal(bytes, rsaSigning());
    expect(message).toBe(
      'test-bundle: bundle file /policy.wasm does not match its hash in the bundle signature ' +
        '(modified after signing)',
    );
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(false);
  });

  it('a changed value in data.json', async () => {
    const bytes = tampered(bundles.rs256, (files) => {
      files.set(
        '/data.json',
        (files.get('/data.json') ?? '').toString().replace('"alice"', '"mallory"'),
      );
    });
    expect(await refusal(bytes, rsaSigning())).toContain('bundle file /data.json does not match');
  });

  it('a changed .manifest (revision)', async () => {
    const bytes = tampered(bundles.rs256, (files) => {
      const manifest = JSON.parse((files.get('/.manifest') ?? '').toString()) as object;
      files.set('/.manifest', JSON.stringify({ ...manifest, revision: 'evil' }));
    });
    expect(await refusal(bytes, rsaSigning())).toContain('bundle file /.manifest does not match');
  });

  it('an added file the signature does not list (OPA refuses it too)', async () => {
    const bytes = tampered(bundles.rs256, (files) => files.set('/extra/notes.txt', 'hello'));
    expect(await refusal(bytes, rsaSigning())).toContain(
      'bundle file /extra/notes.txt is not listed in the bundle signature',
    );
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(false);
  });

  it('... unless exclude_files covers it (Go filepath.Match, as OPA)', async () => {
    const bytes = tampered(bundles.rs256, (files) => files.set('/extra/notes.txt', 'hello'));
    for (const glob of ['extra/*', '/extra/*', 'extra/notes.txt', '*/notes.???']) {
      expect((await parse(bytes, rsaSigning({ excludeFiles: [glob] }))).signed).toBe(true);
    }
    for (const glob of ['*', 'notes.txt', 'extra']) {
      expect(await refusal(bytes, rsaSigning({ excludeFiles: [glob] }))).toContain(
        'not listed in the bundle signature',
      );
    }
    expect(
      opaVerifies(bytes, ['--verification-key', keys.rsaPub, '--exclude-files-verify', 'extra/*'])
        .ok,
    ).toBe(true);
  });

  it('a listed file removed from the bundle (OPA refuses it too)', async () => {
    const bytes = tampered(bundles.rs256, (files) => files.delete('/policy.rego'));
    expect(await refusal(bytes, rsaSigning())).toContain(
      'bundle signature lists /policy.rego, not present in the bundle',
    );
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(false);
  });

  it('the wrong public key', async () => {
    const message = await refusal(
      readFileSync(bundles.rs256),
      signingWith([fileKey('default', 'RS256', keys.otherRsaPub)]),
    );
    expect(message).toContain('bundle signature does not verify with key default (RS256)');
  });

  it('the wrong HMAC secret', async () => {
    const message = await refusal(
      readFileSync(bundles.hs256),
      signingWith([
        { keyId: 'default', algorithm: 'HS256', key: { kind: 'literal', value: 'nope' } },
      ]),
    );
    expect(message).toContain('does not verify with key default (HS256)');
  });

  it('a token whose alg differs from the configured algorithm (ES256 token, RS256 key)', async () => {
    const message = await refusal(readFileSync(bundles.es256), rsaSigning());
    expect(message).toContain(
      'bundle signature algorithm ES256 does not match RS256, the algorithm configured for key default',
    );
  });

  it('a key that does not fit the configured algorithm (RSA key configured as ES256)', async () => {
    const message = await refusal(
      readFileSync(bundles.es256),
      signingWith([fileKey('default', 'ES256', keys.rsaPub)]),
    );
    expect(message).toContain('key default cannot be used for ES256');
  });

  it('a token naming a key id that is not configured', async () => {
    const message = await refusal(
      readFileSync(bundles.rs256),
      signingWith([fileKey('prod', 'RS256', keys.rsaPub)]),
    );
    expect(message).toContain('signed with key id "default", which policy.signing.keys does not');
  });

  it('scope mismatch, and a scoped bundle when no scope is configured (as OPA)', async () => {
    const bytes = readFileSync(bundles.scoped);
    expect(await refusal(bytes, rsaSigning({ scope: 'read' }))).toContain(
      'bundle signature scope "write" does not match policy.signing.scope "read"',
    );
    expect(await refusal(bytes, rsaSigning())).toContain('scope "write" does not match');
    expect(await refusal(readFileSync(bundles.rs256), rsaSigning({ scope: 'write' }))).toContain(
      'scope "" does not match policy.signing.scope "write"',
    );
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub, '--scope', 'read']).ok).toBe(
      false,
    );
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(false);
  });

  it('an unsigned bundle when policy.signing.required is true; accepted when false', async () => {
    const bytes = readFileSync(bundles.unsigned);
    expect(await refusal(bytes, rsaSigning())).toBe(
      'test-bundle: bundle is not signed but policy.signing.required is true',
    );
    const bundle = await parse(bytes, rsaSigning({ required: false }));
    expect(bundle.signed).toBe(false);
    expect(bundle.keyId).toBeUndefined();
    // Without signing config a signature is not checked at all.
    expect((await parse(readFileSync(bundles.rs256))).signed).toBe(false);
  });

  it('a bad signature still fails when policy.signing.required is false', async () => {
    const message = await refusal(
      readFileSync(bundles.rs256),
      signingWith([fileKey('default', 'RS256', keys.otherRsaPub)], { required: false }),
    );
    expect(message).toContain('does not verify');
  });

  it('.signatures.json with zero or two signatures, or not JSON', async () => {
    const token = (
      JSON.parse(filesOf(bundles.rs256).get('/.signatures.json')?.toString() ?? '') as {
        signatures: string[];
      }
    ).signatures[0];
    const withSignatures = (body: string): Buffer =>
      tampered(bundles.rs256, (files) => files.set('/.signatures.json', body));
    expect(await refusal(withSignatures('{"signatures": []}'), rsaSigning())).toContain(
      'has 0 signatures; exactly one is supported',
    );
    expect(
      await refusal(withSignatures(JSON.stringify({ signatures: [token, token] })), rsaSigning()),
    ).toContain('has 2 signatures');
    expect(await refusal(withSignatures('{nope'), rsaSigning())).toContain(
      '.signatures.json is not valid JSON',
    );
  });

  it('a key reference that cannot be read', async () => {
    const message = await refusal(
      readFileSync(bundles.rs256),
      signingWith([fileKey('default', 'RS256', join(dir, 'missing.pem'))]),
    );
    expect(message).toContain('cannot read bundle signing key');
  });
});

describe('hash algorithms other than SHA-256', () => {
  it('SHA-512, SHA-1 and MD5 file hashes verify here and in OPA', async () => {
    const files = filesOf(bundles.unsigned);
    const structured = (path: string) => parseStructured(files.get(path)?.toString() ?? '');
    const algorithms = ['SHA-512', 'SHA-1', 'MD5', 'SHA-256'];
    const listed = [...files].map(([path, bytes], i) => {
      const algorithm = algorithms[i % algorithms.length] ?? 'SHA-256';
      return {
        name: path.slice(1),
        hash: fileDigest(path, bytes, algorithm, structured),
        algorithm,
      };
    });
    const privateKey = readFileSync(keys.rsaPriv, 'utf8');
    const { createPrivateKey } = await import('node:crypto');
    const jws = await new CompactSign(Buffer.from(JSON.stringify({ files: listed })))
      .setProtectedHeader({ alg: 'RS256' })
      .sign(createPrivateKey(privateKey));
    const bytes = pack(
      new Map<string, Buffer | string>([
        ...files,
        ['/.signatures.json', JSON.stringify({ signatures: [jws] })],
      ]),
    );
    expect((await parse(bytes, rsaSigning())).signed).toBe(true);
    expect(opaVerifies(bytes, ['--verification-key', keys.rsaPub]).ok).toBe(true);
  });
});

describe('canonical JSON for hashing', () => {
  it('keeps number literals and sorts keys by UTF-8 bytes, escaping as Go without HTML escaping', () => {
    const value = parseLosslessJson('{"😀":1, "\\ue000":2.50, "b":[1e2, -0.0], "a":"<&>\\u2028"}');
    expect(canonicalText(value)).toBe('{"a":"<&>\\u2028","b":[1e2,-0.0],"\ue000":2.50,"😀":1}');
  });

  it('writes YAML numbers as Go writes the decoded values', () => {
    expect(canonicalText(parseStructured('a: 1.0\nb: 1e2\nc: 017\nd: -0.0\ne: 0x1F\n'))).toBe(
      '{"a":1,"b":100,"c":15,"d":-0,"e":31}',
    );
    // Valid JSON is read as JSON even in a .yaml file (literals kept).
    expect(canonicalText(parseStructured('{"a": 1.0}'))).toBe('{"a":1.0}');
  });

  it('refuses malformed JSON', () => {
    for (const bad of ['{"a":}', '[1,]', '01', '"\u0001"', '{"a":1} x', 'nul']) {
      expect(() => parseLosslessJson(bad)).toThrow();
    }
  });

  it('matches globs as Go filepath.Match', () => {
    expect(matchesGlob('a/*.json', '/a/data.json')).toBe(true);
    expect(matchesGlob('a/*', '/a/b/data.json')).toBe(false);
    expect(matchesGlob('[ab]/x', 'b/x')).toBe(true);
    expect(matchesGlob('[^ab]/x', 'b/x')).toBe(false);
    expect(matchesGlob('[', 'x')).toBe(false);
  });
});

describe('size limits', () => {
  it('refuses compressed input over maxBytes, naming the limit', async () => {
    const bytes = readFileSync(bundles.unsigned);
    expect(await refusal(bytes, undefined, bytes.length - 1)).toBe(
      `test-bundle: bundle is ${bytes.length} bytes compressed, over the limit of ` +
        `${bytes.length - 1} bytes (policy.max_bundle_bytes)`,
    );
  });

  it('refuses a gzip bomb while decompressing', async () => {
    // 256 MiB of zeros compresses to about 256 KiB.
    const bomb = gzipSync(tar([{ name: '/policy.wasm', body: Buffer.alloc(256 * 1024 * 1024) }]), {
      level: constants.Z_BEST_COMPRESSION,
    });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const before = Date.now();
    const message = await refusal(bomb, undefined, 1024 * 1024);
    expect(message).toContain('bundle uncompresses to more than 1048576 bytes');
    expect(Date.now() - before).toBeLessThan(2000);
  });

  it('readBundleFile checks the file size before reading it', async () => {
    await expect(readBundleFile(bundles.unsigned, { maxBytes: 10 })).rejects.toThrow(
      `${bundles.unsigned}: bundle is`,
    );
    const bundle = await readBundleFile(bundles.rs256, { maxBytes: MAX, signing: rsaSigning() });
    expect(bundle.signed).toBe(true);
    await expect(readBundleFile(join(dir, 'nope.tar.gz'), { maxBytes: MAX })).rejects.toThrow(
      'cannot read policy bundle',
    );
  });
});

describe('data files, roots and tar paths', () => {
  const wasm = (): Buffer => filesOf(bundles.unsigned).get('/policy.wasm') ?? Buffer.alloc(0);
  const bundleOf = (files: Array<[string, string | Buffer]>): Buffer =>
    pack(new Map<string, string | Buffer>([['/policy.wasm', wasm()], ...files]));

  it('deep-merges data.json and data.yaml; equal values may repeat', async () => {
    const bundle = await parse(
      bundleOf([
        ['/data.json', '{"a": {"x": 1, "same": [1]}, "top": true}'],
        ['/a/data.yaml', 'y: 2\nsame: [1]\nnested:\n  k: v\n'],
        ['/a/nested/data.json', '{"j": 3}'],
      ]),
    );
    expect(bundle.data).toEqual({
      a: { x: 1, y: 2, same: [1], nested: { k: 'v', j: 3 } },
      top: true,
    });
  });

  it('refuses two files setting one leaf differently, naming both', async () => {
    const message = await refusal(
      bundleOf([
        ['/data.json', '{"a": {"x": 1}}'],
        ['/a/data.yaml', 'x: 2\n'],
      ]),
    );
    expect(message).toBe(
      'test-bundle: bundle data conflict at /a/x: set by /a/data.yaml and by /data.json',
    );
    const scalar = await refusal(
      bundleOf([
        ['/a/data.json', '"scalar"'],
        ['/a/b/data.json', '{"x": 1}'],
      ]),
    );
    expect(scalar).toContain('bundle data conflict at /a');
    expect(scalar).toContain('/a/data.json');
    expect(scalar).toContain('/a/b/data.json');
  });

  it('refuses data outside the manifest roots, and overlapping roots', async () => {
    const manifest = (roots: string[]): [string, string] => [
      '/.manifest',
      JSON.stringify({ roots }),
    ];
    expect(
      (
        await parse(
          bundleOf([
            manifest(['a/b', 'c']),
            ['/a/b/data.json', '{"x":1}'],
            ['/data.json', '{"c": 1, "a": {"b": {"y": 2}}}'],
          ]),
        )
      ).data,
    ).toEqual({ a: { b: { x: 1, y: 2 } }, c: 1 });
    expect(
      await refusal(bundleOf([manifest(['a/b']), ['/data.json', '{"a": {"b": 1, "c": 2}}']])),
    ).toContain('bundle file /data.json puts data at /a/c, outside the manifest roots ("a/b")');
    expect(await refusal(bundleOf([manifest(['a']), ['/z/data.yaml', 'k: 1\n']]))).toContain(
      'bundle file /z/data.yaml puts data at /z, outside the manifest roots',
    );
    expect(await refusal(bundleOf([manifest(['a', 'a/b'])]))).toContain(
      'bundle .manifest roots overlap: "a" and "a/b"',
    );
    const wasmOutside = JSON.stringify({
      roots: ['a'],
      wasm: [{ entrypoint: DECISION_ENTRYPOINT, module: '/policy.wasm' }],
    });
    expect(await refusal(bundleOf([['/.manifest', wasmOutside]]))).toContain(
      `bundle .manifest roots ("a") do not cover the wasm entrypoint ${DECISION_ENTRYPOINT}`,
    );
  });

  it('refuses bad data files, naming them', async () => {
    expect(await refusal(bundleOf([['/x/data.json', '{nope']]))).toBe(
      'test-bundle: bundle file /x/data.json is not valid JSON',
    );
    expect(await refusal(bundleOf([['/x/data.yaml', 'a: [1\n']]))).toContain(
      'bundle file /x/data.yaml is not valid YAML',
    );
    expect(await refusal(bundleOf([['/data.json', '[1]']]))).toContain(
      'bundle file /data.json must hold an object',
    );
  });

  it('normalises "./" and "/" prefixes, skips directories, refuses ".." and duplicates', async () => {
    const entries: TarEntry[] = [
      { name: './policy.wasm', body: wasm() },
      { name: 'dir/', type: '5' },
      { name: '//dir/./data.json', body: '{"k": 1}' },
    ];
    const bundle = await parse(gzipSync(tar(entries)));
    expect(bundle.files).toEqual(['/dir/data.json', '/policy.wasm']);
    expect(bundle.data).toEqual({ dir: { k: 1 } });
    expect(
      await refusal(gzipSync(tar([...entries, { name: 'a/../../etc/data.json', body: '{}' }]))),
    ).toContain('has a ".." segment');
    expect(
      await refusal(gzipSync(tar([...entries, { name: '/policy.wasm', body: 'x' }]))),
    ).toContain('bundle has /policy.wasm twice');
  });

  it('refuses a tar header with a bad checksum', async () => {
    const archive = tar([{ name: 'policy.wasm', body: wasm() }]);
    archive[0] = 'q'.charCodeAt(0);
    expect(await refusal(gzipSync(archive))).toContain('bad checksum');
  });
});
