// Bundle signature verification, as OPA does it (docs: management-bundles, "Signing").
//
// `/.signatures.json` is {"signatures": ["<compact JWS>"]} with exactly one JWS. Its payload
// is {files: [{name, hash, algorithm}], scope?, keyid?, iat?, iss?}.
//   - The key: the JWS header `kid`, else the payload `keyid`, names a configured key; when
//     neither names one and exactly one key is configured, that key is used.
//   - The algorithm comes from the configured key, never from the token: a header `alg`
//     that differs is refused before any cryptography runs.
//   - Scope: the payload scope must equal policy.signing.scope, an absent scope counting
//     as "" on both sides (so a scoped bundle is refused when no scope is configured,
//     exactly as OPA refuses it).
//   - Files: every bundle file except /.signatures.json and those matching an
//     exclude_files glob must be listed with a matching hash; every listed file must be in
//     the bundle (an excluded one too). data.json, data.yaml, data.yml and .manifest are
//     hashed over their canonical form (canonical.ts), every other file over its bytes.
//   - exclude_files globs follow Go's filepath.Match (what OPA uses): "*" and "?" do not
//     cross "/", [a-z] classes, "\\" escapes. They match the path without its leading "/"
//     ("extra/*"); a leading "/" in a pattern is ignored.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, importSPKI, importX509 } from 'jose';
import type { SigningConfig } from '../../config/policy.js';
import { readValue } from '../../config/secrets.js';
import { canonicalText, type Lossless } from './canonical.js';
import { BundleError } from './errors.js';
import { normaliseBundlePath } from './tar.js';

export const SIGNATURES_FILE = '/.signatures.json';
const STRUCTURED = new Set(['data.json', 'data.yaml', 'data.yml', '.manifest']);

/** OPA's hashing algorithm names and node:crypto's. */
const HASHES: Record<string, string> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

export interface SignatureCheck {
  keyId: string;
  /** Every file the signature covers (normalised paths). */
  listed: string[];
}

/** Whether a bundle path (like "/a/data.json") is hashed over its canonical form. */
export function isStructuredFile(path: string): boolean {
  return STRUCTURED.has(path.slice(path.lastIndexOf('/') + 1));
}

/** Go filepath.Match, as a RegExp; undefined for a malformed pattern (which matches nothing). */
function globRegExp(pattern: string): RegExp | undefined {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '\\') {
      i++;
      if (i >= pattern.length) return undefined;
      source += pattern.charAt(i).replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) return undefined;
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      if (body === '') return undefined;
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^[]/g, '\\$&')}]`;
      i = end;
    } else {
      source += c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
    }
  }
  try {
    return new RegExp(`^${source}$`, 'u');
  } catch {
    return undefined;
  }
}

export function matchesGlob(pattern: string, path: string): boolean {
  const re = globRegExp(pattern.replace(/^\/+/, ''));
  return re !== undefined && re.test(path.replace(/^\/+/, ''));
}

/**
 * The hex digest OPA records for a bundle file. `structured` returns the parsed content of
 * a structured file (data.json, data.yaml, data.yml, .manifest).
 */
export function fileDigest(
  path: string,
  bytes: Buffer,
  algorithm: string,
  structured: (path: string) => Lossless,
): string {
  const hash = HASHES[algorithm];
  if (hash === undefined) {
    throw new BundleError(
      `bundle signature lists ${path} with hash algorithm ${JSON.stringify(algorithm)}, ` +
        `which is not supported (${Object.keys(HASHES).join(', ')})`,
    );
  }
  const content = isStructuredFile(path) ? canonicalText(structured(path)) : bytes;
  return createHash(hash).update(content).digest('hex');
}

function decodeSegment(segment: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown;
  } catch {
    throw new BundleError(`bundle signature ${what} is not base64url JSON`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The one compact JWS in /.signatures.json. */
function theToken(bytes: Buffer): string {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BundleError('bundle .signatures.json is not valid JSON');
  }
  const signatures = isRecord(doc) ? doc.signatures : undefined;
  if (!Array.isArray(signatures)) {
    throw new BundleError('bundle .signatures.json has no "signatures" array');
  }
  if (signatures.length !== 1) {
    throw new BundleError(
      `bundle .signatures.json has ${signatures.length} signatures; exactly one is supported`,
    );
  }
  const [token] = signatures as unknown[];
  if (typeof token !== 'string' || token.split('.').length !== 3) {
    throw new BundleError('bundle signature is not a compact JWS');
  }
  return token;
}

type VerifyKey = Uint8Array | CryptoKey;

async function importKey(pem: string, algorithm: string, keyId: string): Promise<VerifyKey> {
  if (algorithm.startsWith('HS')) return new TextEncoder().encode(pem);
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return await importX509(pem, algorithm);
    if (pem.includes('-----BEGIN PUBLIC KEY-----')) return await importSPKI(pem, algorithm);
    if (pem.includes('-----BEGIN RSA PUBLIC KEY-----')) {
      const key: KeyObject = createPublicKey(pem);
      return await importSPKI(key.export({ type: 'spki', format: 'pem' }).toString(), algorithm);
    }
  } catch (err) {
    throw new BundleError(
      `policy.signing key ${keyId} cannot be used for ${algorithm}: ${(err as Error).message}`,
    );
  }
  throw new BundleError(
    `policy.signing key ${keyId} is not a PEM public key or certificate ` +
      `(for ${algorithm} give "-----BEGIN PUBLIC KEY-----" or a certificate)`,
  );
}

interface ListedFile {
  hash: string;
  algorithm: string;
}

function listedFiles(payload: Record<string, unknown>): Map<string, ListedFile> {
  if (!Array.isArray(payload.files)) {
    throw new BundleError('bundle signature payload has no "files" list');
  }
  const listed = new Map<string, ListedFile>();
  for (const entry of payload.files as unknown[]) {
    if (
      !isRecord(entry) ||
      typeof entry.name !== 'string' ||
      typeof entry.hash !== 'string' ||
      typeof entry.algorithm !== 'string'
    ) {
      throw new BundleError(
        'bundle signature payload has a file entry without name/hash/algorithm',
      );
    }
    const name = normaliseBundlePath(entry.name);
    if (listed.has(name)) throw new BundleError(`bundle signature lists ${name} twice`);
    listed.set(name, { hash: entry.hash.toLowerCase(), algorithm: entry.algorithm });
  }
  return listed;
}

/**
 * Verifies /.signatures.json against the configured keys and the files. Throws BundleError
 * naming what failed. The caller decides what an absent signature means.
 */
export async function verifyBundleSignature(
  files: ReadonlyMap<string, Buffer>,
  signing: SigningConfig,
  structured: (path: string) => Lossless,
): Promise<SignatureCheck> {
  const signatures = files.get(SIGNATURES_FILE);
  if (!signatures) throw new BundleError('bundle is not signed (no /.signatures.json)');
  const token = theToken(signatures);
  const [, payloadSegment = ''] = token.split('.');

  let header: { alg?: unknown; kid?: unknown };
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new BundleError('bundle signature header is not base64url JSON');
  }
  const unverified = decodeSegment(payloadSegment, 'payload');
  const named =
    typeof header.kid === 'string' && header.kid !== ''
      ? header.kid
      : isRecord(unverified) && typeof unverified.keyid === 'string' && unverified.keyid !== ''
        ? unverified.keyid
        : undefined;
  const configured = signing.keys.map((k) => k.keyId).join(', ');
  let key: SigningConfig['keys'][number] | undefined;
  if (named !== undefined) {
    key = signing.keys.find((k) => k.keyId === named);
    if (!key) {
      throw new BundleError(
        `bundle is signed with key id ${JSON.stringify(named)}, which policy.signing.keys ` +
          `does not configure (configured: ${configured})`,
      );
    }
  } else if (signing.keys.length === 1) {
    key = signing.keys[0];
  }
  if (!key) {
    throw new BundleError(
      `bundle signature names no key (no kid, no keyid) and several keys are configured ` +
        `(${configured})`,
    );
  }
  if (header.alg !== key.algorithm) {
    throw new BundleError(
      `bundle signature algorithm ${String(header.alg)} does not match ${key.algorithm}, ` +
        `the algorithm configured for key ${key.keyId}`,
    );
  }
  let material: string;
  try {
    material = readValue(key.key, `policy.signing.keys[${key.keyId}].key`);
  } catch (err) {
    throw new BundleError(`cannot read bundle signing key: ${(err as Error).message}`);
  }
  const verifyKey = await importKey(material, key.algorithm, key.keyId);
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, verifyKey, {
      algorithms: [key.algorithm],
    }));
  } catch (err) {
    throw new BundleError(
      `bundle signature does not verify with key ${key.keyId} (${key.algorithm}): ` +
        `${(err as Error).message}`,
    );
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(payloadBytes).toString('utf8'));
  } catch {
    throw new BundleError('bundle signature payload is not JSON');
  }
  if (!isRecord(payload)) throw new BundleError('bundle signature payload is not an object');

  const wanted = signing.scope ?? '';
  const got = typeof payload.scope === 'string' ? payload.scope : '';
  if (got !== wanted) {
    throw new BundleError(
      `bundle signature scope ${JSON.stringify(got)} does not match policy.signing.scope ` +
        `${JSON.stringify(wanted)}`,
    );
  }

  const listed = listedFiles(payload);
  for (const [path, bytes] of files) {
    if (path === SIGNATURES_FILE) continue;
    if (signing.excludeFiles.some((glob) => matchesGlob(glob, path))) continue;
    const entry = listed.get(path);
    if (!entry) {
      throw new BundleError(`bundle file ${path} is not listed in the bundle signature`);
    }
    let digest: string;
    try {
      digest = fileDigest(path, bytes, entry.algorithm, structured);
    } catch (err) {
      if (err instanceof BundleError && err.message.startsWith('bundle signature lists')) {
        throw err;
      }
      throw new BundleError(`bundle file ${path} cannot be hashed: ${(err as Error).message}`);
    }
    if (digest !== entry.hash) {
      throw new BundleError(
        `bundle file ${path} does not match its hash in the bundle signature (modified after signing)`,
      );
    }
  }
  const missing = [...listed.keys()].filter((name) => !files.has(name));
  if (missing.length > 0) {
    throw new BundleError(
      `bundle signature lists ${missing.join(', ')}, not present in the bundle`,
    );
  }
  return { keyId: key.keyId, listed: [...listed.keys()] };
}
