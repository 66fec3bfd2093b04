// A small ustar writer for hand-made bundle tarballs (malformed or unusual on purpose).
const BLOCK = 512;

export interface TarEntry {
  name: string;
  body?: Buffer | string;
  /** ustar type flag: '0' file (default), '5' directory, 'x' PAX header, 'L' GNU long name. */
  type?: string;
  /** ustar prefix field (joined to name with "/"). */
  prefix?: string;
}

function writeString(header: Buffer, value: string, start: number, length: number): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  bytes.copy(header, start);
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

export function tarHeader(entry: TarEntry, size: number): Buffer {
  const header = Buffer.alloc(BLOCK, 0);
  writeString(header, entry.name, 0, 100);
  writeString(header, octal(0o644, 8), 100, 8);
  writeString(header, octal(0, 8), 108, 8);
  writeString(header, octal(0, 8), 116, 8);
  writeString(header, octal(size, 12), 124, 12);
  writeString(header, octal(0, 12), 136, 12);
  writeString(header, ' '.repeat(8), 148, 8);
  writeString(header, entry.type ?? '0', 156, 1);
  writeString(header, 'ustar\0', 257, 6);
  writeString(header, '00', 263, 2);
  if (entry.prefix !== undefined) writeString(header, entry.prefix, 345, 155);
  let sum = 0;
  for (const byte of header) sum += byte;
  writeString(header, `${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return header;
}

/** A complete tar archive (entries, then two zero blocks). */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    parts.push(tarHeader(entry, body.length), body);
    const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
    parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(2 * BLOCK, 0));
  return Buffer.concat(parts);
}

/** A PAX extended header body setting `path`. */
export function paxPath(path: string): string {
  const record = (len: number): string => `${len} path=${path}\n`;
  let len = record(0).length;
  while (record(len).length !== len) len = record(len).length;
  return record(len);
}
