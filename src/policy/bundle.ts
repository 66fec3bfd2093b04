// Reads an OPA bundle tarball (.tar.gz) as `opa build -t wasm` writes it: `/.manifest`,
// `/policy.wasm`, `/data.json` files at their directory paths. Only regular files are
// kept; names are normalised to start with "/" (OPA writes both forms).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export class BundleError extends Error {}

export interface WasmBundle {
  /** `.manifest` revision, or a digest of the tarball when the manifest has none. */
  revision: string;
  wasm: Uint8Array;
  /** Merged data document from every data.json in the bundle. */
  data: Record<string, unknown>;
  entrypoints: string[];
}

const BLOCK = 512;

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** A minimal ustar/PAX reader: enough for bundles, refuses anything it cannot read. */
export function readTar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0)
      throw new BundleError('bundle tar header has a bad size');
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const body = tar.subarray(offset + BLOCK, offset + BLOCK + size);
    if (body.length !== size) throw new BundleError('bundle tarball is truncated');
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      const match = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      paxPath = match?.[1];
      continue;
    }
    if (type === 'L') {
      paxPath = body.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    const path = (paxPath ?? name).replace(/^\.\//, '');
    paxPath = undefined;
    if (type === '0' || type === '\0') files.set(path.startsWith('/') ? path : `/${path}`, body);
  }
  return files;
}

function setAt(root: Record<string, unknown>, path: string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last === undefined) {
    Object.assign(root, value);
  } else {
    node[last] = value;
  }
}

export function parseBundle(gzipped: Buffer, digest: string): WasmBundle {
  let files: Map<string, Buffer>;
  try {
    files = readTar(gunzipSync(gzipped));
  } catch (err) {
    if (err instanceof BundleError) throw err;
    throw new BundleError(`bundle is not a gzip tarball: ${(err as Error).message}`);
  }
  const wasm = files.get('/policy.wasm');
  if (!wasm)
    throw new BundleError('bundle has no /policy.wasm (build it with `mcpgate policy build`)');
  let manifest: { revision?: unknown; wasm?: Array<{ entrypoint?: unknown }> } = {};
  const manifestBytes = files.get('/.manifest');
  if (manifestBytes) {
    try {
      manifest = JSON.parse(manifestBytes.toString('utf8')) as typeof manifest;
    } catch {
      throw new BundleError('bundle .manifest is not valid JSON');
    }
  }
  const data: Record<string, unknown> = {};
  for (const [path, bytes] of files) {
    if (!path.endsWith('/data.json')) continue;
    const segments = path.split('/').filter(Boolean).slice(0, -1);
    try {
      setAt(data, segments, JSON.parse(bytes.toString('utf8')));
    } catch {
      throw new BundleError(`bundle file ${path} is not valid JSON`);
    }
  }
  const revision =
    typeof manifest.revision === 'string' && manifest.revision !== '' ? manifest.revision : digest;
  const entrypoints = (manifest.wasm ?? [])
    .map((w) => w.entrypoint)
    .filter((e): e is string => typeof e === 'string');
  return { revision, wasm, data, entrypoints };
}

export function readBundleFile(path: string): WasmBundle {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new BundleError(
      `cannot read policy bundle ${path}: ${(err as Error).message} (run \`mcpgate policy build\`)`,
    );
  }
  return parseBundle(bytes, `sha256:${sha256Hex(bytes).slice(0, 16)}`);
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
