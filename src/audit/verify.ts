// `mcpgate audit verify`: checks the chain of decision-log files (chain.ts), in the order
// given, across rotation, and says where it breaks and what was expected there. Files are
// read as bytes in chunks, so a line is hashed exactly as it was written and a large file
// is not held in memory.
import { closeSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { chainMember, hmacMatches, lineHash } from './chain.js';
import { spoolHeader } from './spool.js';

export interface VerifyOptions {
  /** HMAC keys (audit.hmac_key, old and new across a rotation); none: signatures not checked. */
  keys: readonly KeyObject[];
  /** A line with `prev: null` after other lines is a new chain (stdout captured across restarts), not a problem. */
  allowNewChains: boolean;
}

export interface VerifyFinding {
  file: string;
  /** 1-based. */
  line: number;
  message: string;
}

export interface VerifyReport {
  files: number;
  lines: number;
  /** Problems: a removed, reordered, altered or unreadable line, a bad signature. */
  problems: VerifyFinding[];
  /** Facts worth knowing that are not problems (a chain that starts earlier, a spool header). */
  notes: VerifyFinding[];
  /** Whether HMACs were checked (keys given and lines signed). */
  signed_lines_checked: number;
  /** The last line's chain position, to compare with /readyz `last_seq`/`last_hash`. */
  last: { seq: number | null; hash: string } | null;
}

interface Previous {
  file: string;
  line: number;
  hash: string;
  seq: number | undefined;
}

/** The lines of a file as bytes (without newlines); the last one may lack its newline. */
function* linesOf(path: string): Generator<{ bytes: Buffer; complete: boolean }> {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    let carry: Buffer[] = [];
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      const data = chunk.subarray(0, n);
      let start = 0;
      for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
        const piece = data.subarray(start, end);
        yield {
          bytes: carry.length > 0 ? Buffer.concat([...carry, piece]) : Buffer.from(piece),
          complete: true,
        };
        carry = [];
        start = end + 1;
      }
      if (start < n) carry.push(Buffer.from(data.subarray(start)));
    }
    if (carry.length > 0) yield { bytes: Buffer.concat(carry), complete: false };
  } finally {
    closeSync(fd);
  }
}

function where(p: Previous): string {
  return `${basename(p.file)}:${p.line}`;
}

export function verifyFiles(paths: readonly string[], options: VerifyOptions): VerifyReport {
  const report: VerifyReport = {
    files: paths.length,
    lines: 0,
    problems: [],
    notes: [],
    signed_lines_checked: 0,
    last: null,
  };
  let previous: Previous | undefined;
  let unsignedNoted = false;
  /** A file's incomplete last line: a spool file that follows may hold it whole. */
  let cut:
    { bytes: Buffer; at: Previous; before: Previous | undefined; problems: number } | undefined;
  paths.forEach((file, fileIndex) => {
    let n = 0;
    let fileBefore = fileIndex > 0 ? paths[fileIndex - 1] : undefined;
    let spool = false;
    for (const { bytes, complete } of linesOf(file)) {
      n++;
      const problem = (message: string) => report.problems.push({ file, line: n, message });
      const note = (message: string) => report.notes.push({ file, line: n, message });
      if (n === 1) {
        const header = spoolHeader(bytes);
        if (header) {
          spool = true;
          note(
            `spool file of ${header.destination} (${header.lines} lines, written ${header.created_at}: ${header.error}); its lines are checked as the continuation of the file before it`,
          );
          continue;
        }
      }
      if (
        cut !== undefined &&
        spool &&
        n === 2 &&
        bytes.subarray(0, cut.bytes.length).equals(cut.bytes)
      ) {
        // The line the full disk cut short is here whole: not a problem, and the chain
        // goes on from the line before it.
        report.problems.splice(cut.problems);
        report.lines--;
        report.notes.push({
          file: cut.at.file,
          line: cut.at.line,
          message: `incomplete line, whole in ${basename(file)}:2 (delivered at the next start)`,
        });
        previous = cut.before;
      }
      cut = undefined;
      report.lines++;
      const hash = lineHash(bytes);
      const follows = previous;
      previous = { file, line: n, hash, seq: undefined };
      if (!complete) {
        cut = { bytes, at: previous, before: follows, problems: report.problems.length };
        problem(
          'incomplete line (no newline at the end): a write was cut short or the file was truncated',
        );
      }
      let event: unknown;
      try {
        event = JSON.parse(bytes.toString('utf8'));
      } catch (err) {
        problem(`not a JSON line (${err instanceof Error ? err.message : String(err)})`);
        continue;
      }
      const chain = chainMember((event as { chain?: unknown } | null)?.chain);
      if (!chain) {
        problem(
          'no valid "chain" member: the line was written without tamper evidence, or altered',
        );
        continue;
      }
      previous.seq = chain.seq;
      if (options.keys.length > 0) {
        const signed = hmacMatches(bytes, options.keys);
        if (signed === undefined) problem('no "hmac" although a key was given: not signed');
        else if (!signed) {
          problem('the HMAC does not match: this line was altered (or signed with another key)');
        } else report.signed_lines_checked++;
      } else if (chain.hmac !== undefined && !unsignedNoted) {
        unsignedNoted = true;
        note('the lines are signed; pass --key to check their HMAC');
      }
      if (chain.prev === null) {
        if (chain.seq !== 0) problem(`a chain's first line has seq 0, this one ${chain.seq}`);
        if (follows === undefined) continue;
        if (options.allowNewChains) note(`a new chain starts here (after ${where(follows)})`);
        else {
          problem(
            `a new chain starts here (prev is null) after ${where(follows)}: the lines before ` +
              `it are not linked to it (replaced?); for stdout captured across restarts pass --allow-new-chains`,
          );
        }
        continue;
      }
      if (follows === undefined) {
        note(
          `the chain continues from a line not given (seq ${chain.seq}); pass the earlier files first to check that link`,
        );
        continue;
      }
      if (n === 1 && fileBefore !== undefined && chain.continues !== undefined) {
        if (chain.continues !== basename(fileBefore)) {
          note(
            `names ${chain.continues} as the file it continues, but follows ${basename(fileBefore)}`,
          );
        }
        fileBefore = undefined;
      }
      const expectedSeq = follows.seq === undefined ? 0 : follows.seq + 1;
      const boundary = n === 1 ? ' (a file missing in between, or the files out of order?)' : '';
      if (chain.prev !== follows.hash) {
        if (chain.seq > expectedSeq) {
          problem(
            `${chain.seq - expectedSeq} line(s) missing before this one${boundary}: expected seq ` +
              `${expectedSeq} after ${where(follows)}, found seq ${chain.seq}`,
          );
        } else if (chain.seq < expectedSeq) {
          problem(
            `out of order${boundary}: seq ${chain.seq} after ${where(follows)} (seq ` +
              `${String(follows.seq)}); expected seq ${expectedSeq}: lines reordered or repeated`,
          );
        } else {
          problem(
            `${where(follows)} is not the line this one follows: prev should be ${follows.hash} ` +
              `(the SHA-256 of ${where(follows)}) and is ${chain.prev}; ${where(follows)} was altered`,
          );
        }
      } else if (chain.seq !== expectedSeq) {
        problem(`seq ${chain.seq} where ${expectedSeq} was expected: the seq was altered`);
      }
    }
  });
  if (previous) report.last = { seq: previous.seq ?? null, hash: previous.hash };
  return report;
}
