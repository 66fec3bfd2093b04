// Reads an OPA bundle tarball (.tar.gz) as `opa build -t wasm` writes it (or a bundle
// server serves it): `/.manifest`, `/policy.wasm`, data files at their directory paths,
// optionally `/.signatures.json`.
//
// Limits: the compressed bytes and the uncompressed tar must each fit in maxBytes; the
// gunzip stops as soon as the output passes the limit, so a gzip bomb is refused before it
// fills memory.
//
// Data: every data.json, data.yaml and data.yml is placed at its directory path and the
// results are deep-merged (objects merge key by key). Two files giving the same leaf
// different values is an error naming both (OPA is stricter still: it refuses any
// overlap, even with equal values).
//
// Manifest roots (OPA's rule, on data only): data may sit at or below a root, or on the way
// to one inside objects; anything else is refused. A missing `roots` means [""], i.e. the
// whole data tree. Roots that overlap each other are refused. The manifest's wasm
// entrypoints must lie under a root too; .rego sources are not parsed, so their packages
// are not checked.
//
// Signatures: see bundles/signature.ts.
//
// Metadata: `mcpgate policy build` records in the manifest, at `metadata.mcpgate`, facts it
// proved from the policy's own Rego (toolchain/opa.ts): `unread_input`, the input parts no rule
// can read, which the gateway then leaves out of every input. Malformed, it is refused.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import type { SigningConfig } from '../../config/policy.js';
import {
  parseYamlLossless,
  setOwn,
  toPlain,
  tryParseLosslessJson,
  type Lossless,
} from './canonical.js';
import { BundleError } from './errors.js';
import { SIGNATURES_FILE, verifyBundleSignature } from './signature.js';
import { readTar } from './tar.js';

export { BundleError } from './errors.js';
export { readTar } from './tar.js';

export interface WasmBundle {
  /** `.manifest` revision, or a digest of the tarball when the manifest has none. */
  revision: string;
  wasm: Uint8Array;
  /** Merged data document from every data.json / data.yaml / data.yml in the bundle. */
  data: Record<string, unknown>;
  entrypoints: string[];
  /** Every regular file in the bundle ("/policy.wasm", ...), sorted. */
  files: string[];
  /** True when /.signatures.json was present and verified. */
  signed: boolean;
  /** The configured key that verified the signature. */
  keyId?: string;
  /**
   * Input parts ("session.history") that `mcpgate policy build` proved no rule of this
   * bundle can read (manifest metadata.mcpgate.unread_input); empty when not recorded.
   */
  unreadInput: string[];
}

export interface ParseBundleOptions {
  /** Limit on the compressed size and, separately, on the uncompressed tar size. */
  maxBytes: number;
  /** Verify /.signatures.json with these keys; required: true refuses unsigned bundles. */
  signing?: SigningConfig | undefined;
  /** Where the bundle came from (path or URL); error messages start with it. */
  source: string;
}

/** The manifest metadata key under which `mcpgate policy build` records what it proved. */
export const MANIFEST_METADATA_KEY = 'mcpgate';

/** The default of policy.max_bundle_bytes, for the legacy unsigned entry points. */
export const DEFAULT_MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
const DATA_FILES = new Set(['data.json', 'data.yaml', 'data.yml']);

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function ownValue(node: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(node, key) ? node[key] : undefined;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue(a[k], b[k]))
    );
  }
  return false;
}

/** Decompresses with the output capped at maxBytes (zlib stops as soon as it passes it). */
function gunzipLimited(bytes: Buffer, maxBytes: number): Buffer {
  if (bytes.length > maxBytes) {
    throw new BundleError(
      `bundle is ${bytes.length} bytes compressed, over the limit of ${maxBytes} bytes ` +
        `(policy.max_bundle_bytes)`,
    );
  }
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BundleError(
        `bundle uncompresses to more than ${maxBytes} bytes, the limit ` +
          `(policy.max_bundle_bytes); refused before unpacking it all`,
      );
    }
    throw new BundleError(`bundle is not a gzip tarball: ${(err as Error).message}`);
  }
}

function unpack(bytes: Buffer, maxBytes: number): Map<string, Buffer> {
  return readTar(gunzipLimited(bytes, maxBytes));
}

type StructuredParser = ((path: string) => Lossless) & {
  /** The file as JSON (undefined when it is not valid JSON), sharing the parse. */
  json(path: string): Lossless | undefined;
};

/** Parses each structured file once, for hashing and for loading. */
function structuredParser(files: ReadonlyMap<string, Buffer>): StructuredParser {
  const cache = new Map<string, { value: Lossless; json: boolean }>();
  const textOf = (path: string): string => {
    const bytes = files.get(path);
    if (!bytes) throw new BundleError(`bundle has no ${path}`);
    return bytes.toString('utf8');
  };
  const jsonOf = (path: string): Lossless | undefined => {
    const hit = cache.get(path);
    if (hit) return hit.json ? hit.value : undefined;
    const value = tryParseLosslessJson(textOf(path));
    if (value !== undefined) cache.set(path, { value, json: true });
    return value;
  };
  const parse = (path: string): Lossless => {
    const json = jsonOf(path);
    if (json !== undefined) return json;
    const hit = cache.get(path);
    if (hit) return hit.value;
    const value = parseYamlLossless(textOf(path));
    cache.set(path, { value, json: false });
    return value;
  };
  return Object.assign(parse, { json: jsonOf });
}

interface Manifest {
  revision?: unknown;
  roots?: unknown;
  wasm?: Array<{ entrypoint?: unknown }>;
  metadata?: unknown;
}

/** metadata.mcpgate.unread_input: a list of dotted input paths, or nothing recorded. */
function manifestUnreadInput(manifest: Manifest): string[] {
  if (manifest.metadata === undefined) return [];
  const where = `bundle .manifest metadata.${MANIFEST_METADATA_KEY}`;
  if (!isObject(manifest.metadata))
    throw new BundleError('bundle .manifest metadata must be an object');
  const ours = ownValue(manifest.metadata, MANIFEST_METADATA_KEY);
  if (ours === undefined) return [];
  if (!isObject(ours)) throw new BundleError(`${where} must be an object`);
  const unread = ownValue(ours, 'unread_input');
  if (unread === undefined) return [];
  if (!Array.isArray(unread) || !unread.every((p) => typeof p === 'string')) {
    throw new BundleError(`${where}.unread_input must be a list of input paths`);
  }
  return unread;
}

function readManifest(files: ReadonlyMap<string, Buffer>): Manifest {
  const bytes = files.get('/.manifest');
  if (!bytes) return {};
  let manifest: unknown;
  try {
    manifest = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BundleError('bundle .manifest is not valid JSON');
  }
  if (!isObject(manifest)) throw new BundleError('bundle .manifest is not a JSON object');
  return manifest;
}

function manifestRoots(manifest: Manifest): string[][] {
  if (manifest.roots === undefined) return [[]];
  if (!Array.isArray(manifest.roots) || !manifest.roots.every((r) => typeof r === 'string')) {
    throw new BundleError('bundle .manifest roots must be a list of strings');
  }
  const roots = manifest.roots.map((r) => r.split('/').filter(Boolean));
  const isPrefix = (a: string[], b: string[]): boolean => a.every((s, i) => b[i] === s);
  roots.forEach((a, i) => {
    roots.forEach((b, j) => {
      if (i < j && (isPrefix(a, b) || isPrefix(b, a))) {
        throw new BundleError(
          `bundle .manifest roots overlap: ${JSON.stringify(a.join('/'))} and ${JSON.stringify(b.join('/'))}`,
        );
      }
    });
  });
  return roots;
}

/** OPA's walk: stop under a root, descend through objects on the way to one, else refuse. */
function checkRoots(roots: string[][], path: string[], value: unknown, file: string): void {
  const covers = (root: string[]): boolean => root.every((s, i) => path[i] === s);
  if (roots.some(covers)) return;
  const leadsTo = (root: string[]): boolean =>
    root.length > path.length && path.every((s, i) => root[i] === s);
  if (!roots.some(leadsTo)) {
    throw new BundleError(
      `bundle file ${file} puts data at /${path.join('/')}, outside the manifest roots ` +
        `(${roots.map((r) => JSON.stringify(r.join('/'))).join(', ')})`,
    );
  }
  if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      checkRoots(roots, [...path, key], child, file);
    }
  }
}

/** Deep-merges value into data at path; a leaf set differently by two files is refused. */
function mergeAt(
  data: Record<string, unknown>,
  path: string[],
  value: unknown,
  file: string,
  owners: Map<string, string>,
): void {
  const ownerOf = (at: string[]): string => {
    for (let n = at.length; n >= 0; n--) {
      const owner = owners.get(at.slice(0, n).join('/'));
      if (owner !== undefined) return owner;
    }
    return 'another file';
  };
  const conflict = (at: string[]): BundleError =>
    new BundleError(
      `bundle data conflict at /${at.join('/')}: set by ${ownerOf(at)} and by ${file}`,
    );

  const merge = (node: Record<string, unknown>, key: string, at: string[], incoming: unknown) => {
    const existing = ownValue(node, key);
    if (existing === undefined) {
      setOwn(node, key, incoming);
      owners.set(at.join('/'), file);
    } else if (isObject(existing) && isObject(incoming)) {
      for (const [k, v] of Object.entries(incoming)) merge(existing, k, [...at, k], v);
    } else if (!sameValue(existing, incoming)) {
      throw conflict(at);
    }
  };

  if (path.length === 0) {
    if (!isObject(value)) {
      throw new BundleError(`bundle file ${file} must hold an object (it is the data root)`);
    }
    for (const [k, v] of Object.entries(value)) merge(data, k, [k], v);
    return;
  }
  let node = data;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] ?? '';
    const next = ownValue(node, key);
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      setOwn(node, key, created);
      owners.set(path.slice(0, i + 1).join('/'), file);
      node = created;
    } else if (isObject(next)) {
      node = next;
    } else {
      throw conflict(path.slice(0, i + 1));
    }
  }
  merge(node, path[path.length - 1] ?? '', path, value);
}

function loadData(
  files: ReadonlyMap<string, Buffer>,
  roots: string[][],
  structured: StructuredParser,
): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const owners = new Map<string, string>();
  const dataFiles = [...files.keys()].filter((p) => DATA_FILES.has(baseName(p))).sort();
  for (const path of dataFiles) {
    let parsed: Lossless;
    if (baseName(path) === 'data.json') {
      const json = structured.json(path);
      if (json === undefined) throw new BundleError(`bundle file ${path} is not valid JSON`);
      parsed = json;
    } else {
      try {
        parsed = structured(path);
      } catch (err) {
        throw new BundleError(`bundle file ${path} is not valid YAML: ${(err as Error).message}`);
      }
    }
    const value = toPlain(parsed);
    const segments = path.split('/').filter(Boolean).slice(0, -1);
    if (segments.length === 0 && isObject(value)) {
      for (const [key, child] of Object.entries(value)) checkRoots(roots, [key], child, path);
    } else {
      checkRoots(roots, segments, value, path);
    }
    mergeAt(data, segments, value, path, owners);
  }
  return data;
}

function assemble(
  files: ReadonlyMap<string, Buffer>,
  fallbackRevision: string,
  structured: StructuredParser,
  signature: { signed: boolean; keyId?: string },
): WasmBundle {
  const wasm = files.get('/policy.wasm');
  if (!wasm) {
    throw new BundleError('bundle has no /policy.wasm (build it with `mcpgate policy build`)');
  }
  const manifest = readManifest(files);
  const roots = manifestRoots(manifest);
  const data = loadData(files, roots, structured);
  const revision =
    typeof manifest.revision === 'string' && manifest.revision !== ''
      ? manifest.revision
      : fallbackRevision;
  const entrypoints = (Array.isArray(manifest.wasm) ? manifest.wasm : [])
    .map((w) => (isObject(w) ? w.entrypoint : undefined))
    .filter((e): e is string => typeof e === 'string');
  for (const entrypoint of entrypoints) {
    const path = entrypoint.split('/').filter(Boolean);
    if (!roots.some((root) => root.every((s, i) => path[i] === s))) {
      throw new BundleError(
        `bundle .manifest roots (${roots.map((r) => JSON.stringify(r.join('/'))).join(', ')}) ` +
          `do not cover the wasm entrypoint ${entrypoint}`,
      );
    }
  }
  return {
    revision,
    wasm,
    data,
    entrypoints,
    files: [...files.keys()].sort(),
    signed: signature.signed,
    ...(signature.keyId === undefined ? {} : { keyId: signature.keyId }),
    unreadInput: manifestUnreadInput(manifest),
  };
}

function digestRevision(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}

async function parseVerified(bytes: Buffer, options: ParseBundleOptions): Promise<WasmBundle> {
  const files = unpack(bytes, options.maxBytes);
  const structured = structuredParser(files);
  const { signing } = options;
  let signature: { signed: boolean; keyId?: string } = { signed: false };
  if (signing && files.has(SIGNATURES_FILE)) {
    const check = await verifyBundleSignature(files, signing, structured);
    signature = { signed: true, keyId: check.keyId };
  } else if (signing?.required) {
    throw new BundleError('bundle is not signed but policy.signing.required is true');
  }
  return assemble(files, digestRevision(bytes), structured, signature);
}

/**
 * Parses and checks a bundle: size limits, tar, signature (when options.signing is set),
 * manifest roots, data. Rejects with a BundleError whose message starts with the source.
 */
export function parseBundle(bytes: Buffer, options: ParseBundleOptions): Promise<WasmBundle>;
/**
 * @deprecated Unsigned, synchronous form kept for existing callers: it checks no signature
 * (a /.signatures.json is ignored). Use parseBundle(bytes, options).
 */
export function parseBundle(bytes: Buffer, fallbackRevision: string): WasmBundle;
export function parseBundle(
  bytes: Buffer,
  options: ParseBundleOptions | string,
): Promise<WasmBundle> | WasmBundle {
  if (typeof options === 'string') {
    const files = unpack(bytes, DEFAULT_MAX_BUNDLE_BYTES);
    return assemble(files, options, structuredParser(files), { signed: false });
  }
  const source = options.source;
  return parseVerified(bytes, options).catch((err: unknown) => {
    if (err instanceof BundleError) {
      throw new BundleError(`${source}: ${err.message}`, { cause: err });
    }
    throw err;
  });
}

function readBytesError(path: string, err: unknown): BundleError {
  return new BundleError(
    `cannot read policy bundle ${path}: ${(err as Error).message} (run \`mcpgate policy build\`)`,
  );
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw readBytesError(path, err);
  }
}

/** Reads and parses a bundle file (see parseBundle); the source in messages is the path. */
export function readBundleFile(
  path: string,
  options: Omit<ParseBundleOptions, 'source'> & { source?: string },
): Promise<WasmBundle>;
/**
 * @deprecated Unsigned, synchronous form kept for existing callers: no signature check.
 * Use readBundleFile(path, { maxBytes, signing }).
 */
export function readBundleFile(path: string): WasmBundle;
export function readBundleFile(
  path: string,
  options?: Omit<ParseBundleOptions, 'source'> & { source?: string },
): Promise<WasmBundle> | WasmBundle {
  if (options === undefined) {
    const bytes = readBytes(path);
    return parseBundle(bytes, digestRevision(bytes));
  }
  return readChecked(path, { ...options, source: options.source ?? path });
}

async function readChecked(path: string, options: ParseBundleOptions): Promise<WasmBundle> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw readBytesError(path, err);
  }
  if (size > options.maxBytes) {
    throw new BundleError(
      `${options.source}: bundle is ${size} bytes compressed, over the limit of ` +
        `${options.maxBytes} bytes (policy.max_bundle_bytes)`,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readBytesError(path, err);
  }
  return parseBundle(bytes, options);
}
