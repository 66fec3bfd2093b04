// The spool: where decision-log lines go when their destination cannot take them at the end
// (the final synchronous write at shutdown or exit fails: a full disk, a closed pipe), so no
// line is lost without a trace. One spool file per destination and shutdown, in
// `audit.spool_dir`: a header line saying whose lines they are and why, then the lines,
// byte for byte as they were to be written (chain member included).
//
// At the next start, the lines of every spool file of a configured stdout or file
// destination are delivered to it before anything else is written, and the spool file is
// removed. Lines the destination already has (a write that completed after shutdown gave up
// on it) are recognised by their chain seq and skipped; a file that ends in the first part of
// a spooled line (a write cut short) gets the rest of that line.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { McpgateError } from '../util/errors.js';
import { chainOf, jsonObjectOf } from './chain.js';

/** A spool file's extension; nothing else in the spool directory is read. */
export const SPOOL_EXTENSION = '.spool';

export interface SpoolHeader {
  /** `stdout`, `file:<path>`. */
  destination: string;
  created_at: string;
  pid: number;
  lines: number;
  /** Why the lines were not written to the destination. */
  error: string;
}

export interface SpoolFile {
  path: string;
  header: SpoolHeader;
}

/** Spool files that cannot be delivered at start: the gateway does not start. */
export class SpoolUndeliveredError extends McpgateError {
  static override readonly code = 'ERR_AUDIT_SPOOL_UNDELIVERED';
}

/** Parses a spool header line; undefined when the line is not one. */
export function spoolHeader(line: Buffer | string): SpoolHeader | undefined {
  const header = jsonObjectOf(line)?.mcpgate_spool;
  if (typeof header !== 'object' || header === null) return undefined;
  const h = header as Record<string, unknown>;
  if (typeof h.destination !== 'string' || typeof h.lines !== 'number') return undefined;
  return {
    destination: h.destination,
    created_at: typeof h.created_at === 'string' ? h.created_at : '',
    pid: typeof h.pid === 'number' ? h.pid : 0,
    lines: h.lines,
    error: typeof h.error === 'string' ? h.error : '',
  };
}

/** Spool files this process has written (their names' order within one millisecond). */
let spoolsWritten = 0;

/**
 * Writes `lines` (each with its newline) to a new spool file in `dir` and returns its path.
 * Written to a temporary name, flushed to disk and renamed, so a spool file is complete or
 * absent. Throws when it cannot be written.
 */
export function writeSpool(
  dir: string,
  destination: string,
  lines: readonly Buffer[],
  error: string,
): string {
  mkdirSync(dir, { recursive: true });
  const header: { mcpgate_spool: SpoolHeader } = {
    mcpgate_spool: {
      destination,
      created_at: new Date().toISOString(),
      pid: process.pid,
      lines: lines.length,
      error,
    },
  };
  // The time first, so the names sort in the order the files were written; then a count
  // of this process's spool files, so two written in the same millisecond sort in order too
  // (the random part alone once delivered the later one first).
  const stamp = header.mcpgate_spool.created_at.replace(/[-:.]/g, '');
  const slug = destination.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  spoolsWritten += 1;
  const sequence = String(spoolsWritten).padStart(6, '0');
  const name = `${stamp}-${process.pid}-${sequence}-${randomBytes(3).toString('hex')}-${slug}`;
  const path = join(dir, `${name}${SPOOL_EXTENSION}`);
  const temporary = join(dir, `${name}.tmp`);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeAll(fd, Buffer.from(`${JSON.stringify(header)}\n`));
    for (const line of lines) writeAll(fd, line);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // what could not be written cannot be removed either; the name says it is incomplete
    }
    throw err;
  }
  closeSync(fd);
  renameSync(temporary, path);
  return path;
}

function writeAll(fd: number, buf: Buffer): void {
  let offset = 0;
  while (offset < buf.length) offset += writeSync(fd, buf, offset);
}

/** The spool files in `dir` (oldest first); none when the directory does not exist. */
export function listSpools(dir: string): SpoolFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const spools: SpoolFile[] = [];
  for (const name of names.filter((n) => n.endsWith(SPOOL_EXTENSION)).sort()) {
    const path = join(dir, name);
    const header = spoolHeader(firstLine(path));
    if (header) spools.push({ path, header });
  }
  return spools;
}

/** The lines of a spool file after its header, each with its newline. */
export function spooledLines(path: string): Buffer[] {
  const bytes = readFileSync(path);
  const lines: Buffer[] = [];
  let start = bytes.indexOf(0x0a) + 1;
  while (start > 0 && start < bytes.length) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end === -1 ? bytes.length : end + 1;
    lines.push(bytes.subarray(start, stop));
    start = stop;
  }
  return lines;
}

function firstLine(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const end = buf.subarray(0, n).indexOf(0x0a);
    return buf.subarray(0, end === -1 ? n : end);
  } finally {
    closeSync(fd);
  }
}

/** The end of a file: its last complete line and what follows it without a newline. */
export interface FileTail {
  /** The last line ending in a newline (without it), if any. */
  line: Buffer | undefined;
  /** Bytes after the last newline: the start of a line whose write was cut short. */
  fragment: Buffer | undefined;
}

/** Reads the end of an open file backwards, as far as its last complete line. */
export function readTail(fd: number): FileTail {
  const size = fstatSync(fd).size;
  if (size === 0) return { line: undefined, fragment: undefined };
  const chunks: Buffer[] = [];
  let position = size;
  let newlines: number[] = [];
  // Back to the newline before the last complete line (or the start of the file).
  while (position > 0) {
    const length = Math.min(64 * 1024, position);
    position -= length;
    const chunk = Buffer.alloc(length);
    readSync(fd, chunk, 0, length, position);
    chunks.unshift(chunk);
    const tail = Buffer.concat(chunks);
    newlines = [];
    for (let i = tail.indexOf(0x0a); i !== -1; i = tail.indexOf(0x0a, i + 1)) newlines.push(i);
    if (newlines.length >= 2) break;
  }
  const tail = Buffer.concat(chunks);
  const last = newlines.at(-1);
  if (last === undefined) return { line: undefined, fragment: tail };
  const fragment = last === tail.length - 1 ? undefined : tail.subarray(last + 1);
  const before = newlines.length >= 2 ? (newlines.at(-2) as number) + 1 : 0;
  // A file that begins in the middle of the buffer only when the loop reached its start.
  return { line: tail.subarray(before, last), fragment };
}

export interface Delivered {
  spool: string;
  /** Lines appended to the destination. */
  lines: number;
  /** Lines the destination already had (same chain seq): not appended again. */
  skipped: number;
  /** The destination ended in part of a spooled line: only the rest of it was appended. */
  completed_line: boolean;
  /** The destination ended in a fragment that is not the start of the next line: it was closed with a newline. */
  closed_fragment: boolean;
}

/**
 * Delivers every spool file of `destination` in `dir`, oldest first: appends its lines to
 * `fd` and removes the spool file. `readFd` reads a regular file's end, to skip the lines it
 * has already (undefined for stdout). Returns what was delivered and the last line delivered
 * (without its newline), after which the chain goes on. Throws SpoolUndeliveredError when a
 * write fails (the spool file stays).
 */
export function deliverSpools(
  dir: string,
  destination: string,
  fd: number,
  readFd: number | undefined,
): { delivered: Delivered[]; last: Buffer | undefined } {
  const delivered: Delivered[] = [];
  let last: Buffer | undefined;
  for (const spool of listSpools(dir)) {
    if (spool.header.destination !== destination) continue;
    const lines = spooledLines(spool.path);
    const report: Delivered = {
      spool: spool.path,
      lines: 0,
      skipped: 0,
      completed_line: false,
      closed_fragment: false,
    };
    let out: Buffer[] = lines;
    if (readFd !== undefined) {
      const end = readTail(readFd);
      const lastSeq = end.line === undefined ? undefined : chainOf(end.line)?.seq;
      if (lastSeq !== undefined) {
        out = lines.filter((l) => {
          const seq = chainOf(l.subarray(0, l.length - 1))?.seq;
          return seq === undefined || seq > lastSeq;
        });
        report.skipped = lines.length - out.length;
      }
      if (end.fragment !== undefined) {
        const first = out[0];
        if (first !== undefined && first.subarray(0, end.fragment.length).equals(end.fragment)) {
          out = [first.subarray(end.fragment.length), ...out.slice(1)];
          report.completed_line = true;
        } else {
          out = [Buffer.from('\n'), ...out];
          report.closed_fragment = true;
        }
      }
    }
    try {
      for (const line of out) writeAll(fd, line);
    } catch (err) {
      throw new SpoolUndeliveredError(
        `${spool.path} holds ${lines.length} decision-log lines for ${destination} that could ` +
          `not be delivered (${describe(err)}); the gateway does not start until they are: ` +
          `make room at the destination and start again, or move the spool file out of ` +
          `${dir} (check it with: mcpgate audit verify <the destination's files> ${spool.path})`,
        { cause: err },
      );
    }
    report.lines = out.length - (report.closed_fragment ? 1 : 0);
    const lastLine = lines.at(-1);
    if (lastLine !== undefined) last = lastLine.subarray(0, lastLine.length - 1);
    unlinkSync(spool.path);
    delivered.push(report);
  }
  return { delivered, last };
}

export function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code && e.message)
    return e.message.startsWith(e.code) ? e.message : `${e.code}: ${e.message}`;
  return err instanceof Error ? err.message : String(err);
}
