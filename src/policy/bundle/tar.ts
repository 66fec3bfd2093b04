// A small tar reader for OPA bundles: ustar, PAX extended headers and GNU long names, as
// written by `opa build` (Go archive/tar), GNU tar, bsdtar and hand-rolled bundle servers.
//
// Only regular files are kept. Directories, links, devices and global PAX headers are
// skipped. Names are normalised to one form, "/a/b.json": a leading "./" or "/" is
// dropped, empty and "." segments are removed, and a name with a ".." segment is refused
// (a bundle path can never point outside the bundle). The same file twice is refused, so
// that what the signature covers and what is loaded cannot differ.
import { BundleError } from './errors.js';

const BLOCK = 512;

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

function octalField(header: Buffer, start: number, length: number): number {
  const text = field(header, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return parseInt(text, 8);
}

/** Header checksums are the byte sum with the checksum field read as spaces. */
function checksumMatches(header: Buffer): boolean {
  const stored = octalField(header, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** PAX records: "<length> <key>=<value>\n", length counting the whole record. */
function paxRecords(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(body.subarray(offset, space).toString('ascii'), 10);
    if (!Number.isInteger(length) || length <= space - offset || offset + length > body.length) {
      throw new BundleError('bundle tar has a malformed PAX header');
    }
    const record = body.subarray(space + 1, offset + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    offset += length;
  }
  return records;
}

/**
 * The normalised form of a bundle path ("/a/b"), or a BundleError for a path that climbs
 * out of the bundle. Exported for the signature check, which compares listed names.
 */
export function normaliseBundlePath(name: string): string {
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw new BundleError(`bundle path ${JSON.stringify(name)} has a ".." segment`);
  }
  return `/${segments.join('/')}`;
}

/** A tarball's regular files by normalised path ("/policy.wasm"), in archive order. */
export function readTar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    let size = octalField(header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new BundleError('bundle tar header has a bad size');
    }
    if (!checksumMatches(header)) throw new BundleError('bundle tar header has a bad checksum');
    const type = String.fromCharCode(header[156] ?? 0);
    if (paxSize !== undefined && type !== 'x' && type !== 'L') size = paxSize;
    const body = tar.subarray(offset + BLOCK, offset + BLOCK + size);
    if (body.length !== size) throw new BundleError('bundle tarball is truncated');
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'x') {
      const records = paxRecords(body);
      paxPath = records.get('path') ?? paxPath;
      const paxSizeText = records.get('size');
      if (paxSizeText !== undefined) {
        paxSize = /^\d+$/.test(paxSizeText) ? Number(paxSizeText) : Number.NaN;
        if (!Number.isSafeInteger(paxSize)) {
          throw new BundleError('bundle tar header has a bad size');
        }
      }
      continue;
    }
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (type === 'g' || type === 'K') continue; // global PAX header, GNU long link name
    const prefix = field(header, 345, 155);
    const name = field(header, 0, 100);
    const path = paxPath ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    paxPath = undefined;
    longName = undefined;
    paxSize = undefined;
    // '0' and NUL are regular files, '7' contiguous files; everything else is skipped.
    if (type !== '0' && type !== '\0' && type !== '7') continue;
    const normalised = normaliseBundlePath(path);
    if (normalised === '/') throw new BundleError(`bundle has a file with an empty name`);
    if (files.has(normalised)) {
      throw new BundleError(`bundle has ${normalised} twice`);
    }
    files.set(normalised, body);
  }
  return files;
}

/**
 * The tarball with the body of one plain ustar file (as `opa build` writes `/.manifest`:
 * no PAX or GNU long-name header before it) replaced; every other byte is kept. The header
 * is kept too, with the new size and checksum. Throws when there is no such entry.
 */
export function replaceTarFile(tar: Buffer, path: string, body: Buffer): Buffer {
  let offset = 0;
  let extended = false;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = octalField(header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0 || !checksumMatches(header)) {
      throw new BundleError('bundle tar header is malformed');
    }
    const type = String.fromCharCode(header[156] ?? 0);
    const end = offset + BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    const prefix = field(header, 345, 155);
    const name = field(header, 0, 100);
    const plainFile = (type === '0' || type === '\0') && !extended;
    if (plainFile && normaliseBundlePath(prefix ? `${prefix}/${name}` : name) === path) {
      const replaced = Buffer.from(header);
      replaced.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
      replaced.write(' '.repeat(8), 148, 8, 'ascii');
      let sum = 0;
      for (const byte of replaced) sum += byte;
      replaced.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
      const pad = Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK, 0);
      return Buffer.concat([tar.subarray(0, offset), replaced, body, pad, tar.subarray(end)]);
    }
    extended = type === 'x' || type === 'L';
    offset = end;
  }
  throw new BundleError(`bundle tar has no plain entry ${path} to replace`);
}
