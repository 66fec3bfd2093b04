// Tamper evidence of the decision log on real files: the hash chain and its HMAC as the file
// sink writes them, a file appended to by a later run, rotation, spool files delivered at
// start, and `audit verify` finding a removed, reordered, altered or cut-short line and
// saying where.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createSecretKey } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainOf, hmacMatches, LineChain } from '../../src/audit/chain.js';
import { createDecisionLog } from '../../src/audit/decision-log.js';
import { fileSink, type LineSinkOptions } from '../../src/audit/line-writer.js';
import { listSpools, SpoolUndeliveredError, writeSpool } from '../../src/audit/spool.js';
import { verifyFiles, type VerifyReport } from '../../src/audit/verify.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';
import { thrownBy } from './support/errors.js';
import { capturingLogger } from '../support/logger.js';

let dir: string;
let counter = 0;
const LABELS = { id: 'gw-test', version: '9.9.9' };
const KEY = createSecretKey(Buffer.from('k'.repeat(40)));
const OTHER_KEY = createSecretKey(Buffer.from('o'.repeat(40)));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-audit-chain-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function fresh(name: string): string {
  return join(dir, `${++counter}-${name}`);
}

interface Notices {
  errors: string[];
  notices: Array<{ message: string; meta: Record<string, unknown> }>;
}

function options(extra: Partial<LineSinkOptions> = {}): LineSinkOptions & Notices {
  const seen: Notices = { errors: [], notices: [] };
  return {
    spoolDir: fresh('spool'),
    onError: (message) => seen.errors.push(message),
    onRecovered: () => undefined,
    onNotice: (message, meta) => seen.notices.push({ message, meta }),
    ...extra,
    ...seen,
  };
}

function event(i: number, pad = 0): string {
  return JSON.stringify({
    decision_id: `d-${i}`,
    input: { n: i, text: 'ünïcode ✓', pad: 'p'.repeat(pad) },
  });
}

/**
 * Writes events `from`..`from`+n-1 through a file sink, `perTurn` an event-loop turn (so
 * the background writes run between them), and closes it (what is left is written then).
 */
async function writeEvents(
  path: string,
  n: number,
  from = 0,
  extra: Partial<LineSinkOptions> = {},
  { pad = 0, perTurn = n } = {},
) {
  const opts = options(extra);
  const sink = fileSink(path, opts);
  for (let i = from; i < from + n; i++) {
    void sink.write(event(i, pad));
    if ((i - from + 1) % perTurn === 0) await new Promise((r) => setTimeout(r, 1));
  }
  const report = await sink.close();
  return { report, opts, status: sink.status() };
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function verify(
  paths: string[],
  keys = [] as (typeof KEY)[],
  allowNewChains = false,
): VerifyReport {
  return verifyFiles(paths, { keys, allowNewChains });
}

function problems(report: VerifyReport): string[] {
  return report.problems.map(
    (p) => `${p.file.slice(p.file.lastIndexOf('/') + 1)}:${p.line}: ${p.message}`,
  );
}

describe('the chain as written', () => {
  it('links every line to the one before it: seq from 0, prev the SHA-256 of the previous line', async () => {
    const path = fresh('decisions.jsonl');
    await writeEvents(path, 5);
    const written = lines(path);
    expect(written).toHaveLength(5);
    written.forEach((line, i) => {
      const parsed = JSON.parse(line) as { decision_id: string; chain: unknown };
      // The event is unchanged; the chain is one more top-level member, the last.
      expect(line.startsWith(event(i).slice(0, -1))).toBe(true);
      expect(parsed.decision_id).toBe(`d-${i}`);
      expect(parsed.chain).toEqual({
        seq: i,
        prev: i === 0 ? null : sha256(written[i - 1] as string),
      });
    });
    expect(verify([path]).problems).toEqual([]);
  });

  it('goes on after the last line of the file when a later run appends to it', async () => {
    const path = fresh('decisions.jsonl');
    await writeEvents(path, 3);
    const { status } = await writeEvents(path, 3, 3);
    const written = lines(path);
    expect(chainOf(written[3] as string)).toEqual({ seq: 3, prev: sha256(written[2] as string) });
    expect(status).toMatchObject({ last_seq: 5, last_hash: sha256(written[5] as string) });
    const report = verify([path]);
    expect(report.problems).toEqual([]);
    expect(report.last).toEqual({ seq: 5, hash: sha256(written[5] as string) });
  });

  it('signs every line with the HMAC key; verify checks it, and refuses another key', async () => {
    const path = fresh('signed.jsonl');
    await writeEvents(path, 4, 0, { hmacKey: KEY });
    for (const line of lines(path)) {
      expect(line).toMatch(/,"hmac":"[0-9a-f]{64}"\}\}$/);
      expect(hmacMatches(Buffer.from(line), [KEY])).toBe(true);
      expect(hmacMatches(Buffer.from(line), [OTHER_KEY])).toBe(false);
    }
    expect(verify([path], [KEY])).toMatchObject({ problems: [], signed_lines_checked: 4 });
    // A rotated key: either key in the list verifies.
    expect(verify([path], [OTHER_KEY, KEY]).problems).toEqual([]);
    expect(problems(verify([path], [OTHER_KEY]))).toHaveLength(4);
    expect(verify([path]).notes.map((n) => n.message)).toContain(
      'the lines are signed; pass --key to check their HMAC',
    );
  });

  it('continues across rotation: the new file starts from the last hash of the old one and names it', async () => {
    const path = fresh('rotating.jsonl');
    // 200 lines of about 2 KB: six files of 64 KiB, rotated by background writes and, for
    // what is left at close(), by the synchronous one.
    const { status } = await writeEvents(
      path,
      200,
      0,
      { maxFileBytes: 64 * 1024 },
      { pad: 2000, perTurn: 16 },
    );
    const base = path.slice(path.lastIndexOf('/') + 1, -'.jsonl'.length);
    const rotated = readdirSync(dir)
      .filter((n) => n.startsWith(`${base}.`) && n !== `${base}.jsonl`)
      .sort();
    expect(rotated.length).toBeGreaterThanOrEqual(5);
    expect(status.rotations).toBe(rotated.length);
    for (const name of rotated) expect(name).toMatch(/^\d+-rotating\.\d{8}T\d{9}Z\.jsonl$/);
    // In name order, the rotated files and then the current one hold every line once, in order.
    const files = [...rotated.map((n) => join(dir, n)), path];
    const all = files.flatMap(lines);
    expect(all.map((l) => (JSON.parse(l) as { decision_id: string }).decision_id)).toEqual(
      Array.from({ length: 200 }, (_, i) => `d-${i}`),
    );
    const firstOfCurrent = chainOf(lines(path)[0] as string);
    expect(firstOfCurrent?.continues).toBe(rotated.at(-1));
    expect(firstOfCurrent?.prev).toBe(sha256(lines(files.at(-2) as string).at(-1) as string));
    expect(verify(files).problems).toEqual([]);
    // Out of order, or with a file left out, the boundary is reported.
    const swapped = verify([path, ...files.slice(0, -1)]);
    expect(swapped.problems.length).toBeGreaterThan(0);
    if (files.length > 2) {
      const gap = problems(verify([files[0] as string, path]));
      expect(gap[0]).toMatch(/line\(s\) missing before this one \(a file missing in between/);
    }
  });
  it('a new file after a restart continues the chain of the latest rotated file and names it', async () => {
    const path = fresh('restarted.jsonl');
    await writeEvents(path, 3);
    // Killed between the rename of a rotation and the first line of the new file.
    const rotated = path.replace(/\.jsonl$/, '.20260101T000000000Z.jsonl');
    renameSync(path, rotated);
    await writeEvents(path, 2, 3);
    const first = chainOf(lines(path)[0] as string);
    expect(first).toEqual({
      seq: 3,
      prev: sha256(lines(rotated).at(-1) as string),
      continues: rotated.slice(rotated.lastIndexOf('/') + 1),
    });
    expect(verify([rotated, path]).problems).toEqual([]);
  });
});

describe('audit verify finds what changed and says where', () => {
  async function chainFile(
    n = 6,
    extra: Partial<LineSinkOptions> = {},
  ): Promise<{ path: string; original: string[] }> {
    const path = fresh('tamper.jsonl');
    await writeEvents(path, n, 0, extra);
    return { path, original: lines(path) };
  }

  function rewrite(path: string, content: string[]): void {
    writeFileSync(path, `${content.join('\n')}\n`);
  }

  it('a removed line', async () => {
    const { path, original } = await chainFile();
    rewrite(
      path,
      original.filter((_, i) => i !== 2),
    );
    const name = path.slice(path.lastIndexOf('/') + 1);
    expect(problems(verify([path]))).toEqual([
      `${name}:3: 1 line(s) missing before this one: expected seq 2 after ${name}:2, found seq 3`,
    ]);
  });

  it('two lines swapped', async () => {
    const { path, original } = await chainFile();
    rewrite(path, [
      original[0],
      original[1],
      original[3],
      original[2],
      original[4],
      original[5],
    ] as string[]);
    const found = problems(verify([path]));
    expect(found[0]).toMatch(/:3: 1 line\(s\) missing before this one: expected seq 2/);
    expect(found[1]).toMatch(/:4: out of order: seq 2 after .*:3 \(seq 3\); expected seq 4/);
  });

  it('an altered line (without a key: found at the next line; with a key: at the line itself)', async () => {
    const { path, original } = await chainFile();
    const name = path.slice(path.lastIndexOf('/') + 1);
    rewrite(
      path,
      original.map((l, i) => (i === 1 ? l.replace('"n":1', '"n":7') : l)),
    );
    expect(problems(verify([path]))).toEqual([
      `${name}:3: ${name}:2 is not the line this one follows: prev should be ${sha256(
        lines(path)[1] as string,
      )} (the SHA-256 of ${name}:2) and is ${sha256(original[1] as string)}; ${name}:2 was altered`,
    ]);

    const signed = await chainFile(6, { hmacKey: KEY });
    const signedName = signed.path.slice(signed.path.lastIndexOf('/') + 1);
    // Altered and re-linked: the chain holds, the HMAC does not.
    const altered = signed.original.map((l) => l);
    altered[5] = (altered[5] as string).replace('"n":5', '"n":9');
    rewrite(signed.path, altered);
    expect(problems(verify([signed.path], [KEY]))).toEqual([
      `${signedName}:6: the HMAC does not match: this line was altered (or signed with another key)`,
    ]);
  });

  it('a line cut short, a line that is not JSON, a line without a chain, a new chain', async () => {
    const { path, original } = await chainFile(3);
    const name = path.slice(path.lastIndexOf('/') + 1);
    writeFileSync(
      path,
      `${original.join('\n')}\n{"decision_id":"x"}\nnot json\n${original[0]}\n{"cut`,
    );
    expect(problems(verify([path]))).toEqual([
      `${name}:4: no valid "chain" member: the line was written without tamper evidence, or altered`,
      `${name}:5: not a JSON line (Unexpected token 'o', "not json" is not valid JSON)`,
      `${name}:6: a new chain starts here (prev is null) after ${name}:5: the lines before it are not linked to it (replaced?); for stdout captured across restarts pass --allow-new-chains`,
      `${name}:7: incomplete line (no newline at the end): a write was cut short or the file was truncated`,
      expect.stringMatching(
        new RegExp(`^${name}:7: not a JSON line \\(Unterminated string in JSON at position 5`),
      ),
    ]);
    expect(verify([path], [], true).notes.map((n) => n.message)).toContain(
      `a new chain starts here (after ${name}:5)`,
    );
  });

  it('an incomplete last line left by a killed run is closed at the next start, and the chain goes on', async () => {
    const { path, original } = await chainFile(3);
    appendFileSync(path, '{"decision_id":"cut short');
    const { opts } = await writeEvents(path, 2, 3);
    expect(opts.notices[0]?.message).toMatch(/ended in an incomplete line/);
    const name = path.slice(path.lastIndexOf('/') + 1);
    expect(lines(path)).toHaveLength(6);
    expect(lines(path).slice(0, 3)).toEqual(original);
    // Only the fragment itself is reported: the line after it links to it.
    expect(problems(verify([path]))).toEqual([
      expect.stringMatching(
        new RegExp(`^${name}:4: not a JSON line \\(Unterminated string in JSON at position 25`),
      ),
    ]);
  });
});

describe('spool files', () => {
  it('sort in the order they were written, also within one millisecond', () => {
    const spoolDir = fresh('spool-order');
    // Written back to back: many share a millisecond, as the two spools of one close can.
    const errors = Array.from({ length: 40 }, (_, i) => `error ${i}`);
    for (const error of errors) writeSpool(spoolDir, 'file:/x.jsonl', [], error);
    expect(listSpools(spoolDir).map((s) => s.header.error)).toEqual(errors);
  });

  it('are delivered at the next start, oldest first, skipping what the file has and completing a cut line', async () => {
    const path = fresh('delivered.jsonl');
    const destination = `file:${path}`;
    const spoolDir = fresh('spool');
    // What the run wrote: lines 0-3 of a chain; what it could not write: 2-5, the file having
    // 0-1 whole and the start of 2 (a write cut short), and a hung write that did land line 2.
    const chain = new LineChain(undefined, undefined);
    const all = Array.from({ length: 6 }, (_, i) => chain.link(event(i)));
    writeFileSync(
      path,
      Buffer.concat([all[0], all[1], (all[2] as Buffer).subarray(0, 17)] as Buffer[]),
    );
    writeSpool(spoolDir, destination, all.slice(1, 4), 'ENOSPC: no space left on device');
    writeSpool(spoolDir, destination, all.slice(4), 'ENOSPC: no space left on device');
    writeSpool(spoolDir, 'file:/somewhere/else.jsonl', all.slice(0, 1), 'EIO');
    expect(listSpools(spoolDir)).toHaveLength(3);

    const opts = options({ spoolDir });
    const sink = fileSink(path, opts);
    expect(opts.notices.map((n) => n.meta)).toEqual([
      expect.objectContaining({ destination, lines: 2, skipped: 1, completed_line: true }),
      expect.objectContaining({ destination, lines: 2, skipped: 0, completed_line: false }),
    ]);
    void sink.write(event(6));
    await sink.close();
    expect(readFileSync(path)).toEqual(
      Buffer.concat([...all, Buffer.from(lines(path)[6] as string), Buffer.from('\n')]),
    );
    expect(verify([path]).problems).toEqual([]);
    // Another destination's spool file stays.
    expect(listSpools(spoolDir).map((s) => s.header.destination)).toEqual([
      'file:/somewhere/else.jsonl',
    ]);
  });

  it('of a destination that is not configured stay, and every start says so', async () => {
    const spoolDir = fresh('spool');
    const chain = new LineChain(undefined, undefined);
    const spool = writeSpool(spoolDir, 'file:/gone/decisions.jsonl', [chain.link(event(0))], 'EIO');
    const said: string[] = [];
    const log = createDecisionLog([{ type: 'file', path: fresh('current.jsonl') }], LABELS, {
      spoolDir,
      logger: capturingLogger(said),
    });
    await log.close();
    expect(said.map((m) => JSON.parse(m) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        level: 'warn',
        message:
          'a spool file of a destination that is not configured is left in the spool directory',
        spool,
        destination: 'file:/gone/decisions.jsonl',
        lines: 1,
      }),
    ]);
    expect(existsSync(spool)).toBe(true);
  });

  it('stop the start when they cannot be delivered, and stay', () => {
    const spoolDir = fresh('spool');
    const chain = new LineChain(undefined, undefined);
    const spool = writeSpool(spoolDir, 'file:/dev/full', [chain.link(event(0))], 'ENOSPC');
    const err = thrownBy(() => fileSink('/dev/full', options({ spoolDir })));
    expect(err).toBeInstanceOf(SpoolUndeliveredError);
    expect(err.message).toMatch(
      new RegExp(
        `^${spool.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds 1 decision-log lines for file:/dev/full that could not be delivered \\(ENOSPC: .*\\); the gateway does not start until they are`,
      ),
    );
    expect(existsSync(spool)).toBe(true);
  });

  it('verify reads a spool file after the file it belongs to', async () => {
    const path = fresh('with-spool.jsonl');
    await writeEvents(path, 2);
    const after = fresh('spool');
    mkdirSync(after);
    const tail = lines(path).at(-1) as string;
    const chain = new LineChain({ seq: 1, hash: sha256(tail) }, undefined);
    const spool = writeSpool(
      after,
      `file:${path}`,
      [chain.link(event(2)), chain.link(event(3))],
      'EIO',
    );
    const report = verify([path, spool]);
    expect(report.problems).toEqual([]);
    expect(report.lines).toBe(4);
    expect(report.notes[0]?.message).toMatch(/^spool file of file:.* \(2 lines, written .*: EIO\)/);
  });
});

describe('spool files and verify', () => {
  it('a line the full disk cut short in the file is whole in the spool file: no problem', () => {
    const path = fresh('cut.jsonl');
    const chain = new LineChain(undefined, undefined);
    const all = Array.from({ length: 4 }, (_, i) => chain.link(event(i)));
    writeFileSync(
      path,
      Buffer.concat([all[0], all[1], (all[2] as Buffer).subarray(0, 30)] as Buffer[]),
    );
    const spool = writeSpool(fresh('spool'), `file:${path}`, all.slice(2), 'ENOSPC');
    const report = verify([path, spool]);
    expect(report.problems).toEqual([]);
    expect(report.lines).toBe(4);
    expect(report.notes.map((n) => n.message)).toContain(
      `incomplete line, whole in ${spool.slice(spool.lastIndexOf('/') + 1)}:2 (delivered at the next start)`,
    );
    // Without the spool file, the cut line is what verify reports.
    expect(problems(verify([path]))).toEqual([
      expect.stringMatching(/:3: incomplete line \(no newline at the end\)/),
      expect.stringMatching(/:3: not a JSON line/),
    ]);
  });
});

describe('mcpgate audit verify (the command)', () => {
  const BIN = join(PACKAGE_ROOT, 'bin/mcpgate.js');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, 'audit', ...args], {
      encoding: 'utf8',
      env: { ...process.env, AUDIT_KEY: 'k'.repeat(40), SHORT_KEY: 'short' },
    });

  it('says how it is used (--help, help, no file), as part of mcpgate help too', () => {
    for (const args of [
      ['verify', '--help'],
      ['verify', '-h'],
    ]) {
      const { status, stdout } = run(...args);
      expect(status).toBe(0);
      expect(stdout).toContain('mcpgate audit verify FILE... [--key env:NAME|file:PATH]');
      expect(stdout).toContain(
        'Exit status: 0 the chain is intact, 1 problems were found, 2 usage error.',
      );
    }
    for (const args of [['--help']]) {
      const { status, stdout } = run(...args);
      expect(status).toBe(0);
      expect(stdout).toContain('audit verify');
    }
    const none = run('verify');
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('needs at least one decision-log FILE');
    const help = spawnSync(process.execPath, [BIN, 'help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/\n {2}audit verify +check the hash chain/);
  });

  it('exits 0 on an intact chain, 1 naming file:line otherwise; checks the HMAC with --key', async () => {
    const path = fresh('cli.jsonl');
    await writeEvents(path, 3, 0, { hmacKey: KEY });
    const ok = run('verify', path, '--key', 'env:AUDIT_KEY');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(
      /^checked 3 lines in 1 file\(s\): the chain is intact; 3 HMACs checked; last line: seq 2, sha256 [0-9a-f]{64}\n$/,
    );
    const original = lines(path);
    writeFileSync(path, `${[original[0], original[2]].join('\n')}\n`);
    const broken = run('verify', path, '--key', 'env:AUDIT_KEY');
    expect(broken.status).toBe(1);
    expect(broken.stdout).toContain(
      `${path}:2: 1 line(s) missing before this one: expected seq 1 after ${path.slice(path.lastIndexOf('/') + 1)}:1, found seq 2`,
    );
    expect(broken.stdout).toContain('checked 2 lines in 1 file(s): 1 problem(s); 2 HMACs checked');
    const json = JSON.parse(run('verify', path, '--json').stdout) as VerifyReport;
    expect(json).toMatchObject({ files: 1, lines: 2, problems: [{ file: path, line: 2 }] });
    const short = run('verify', path, '--key', 'env:SHORT_KEY');
    expect(short.status).toBe(1);
    expect(short.stderr).toContain(
      'mcpgate: audit.hmac_key: the key in env:SHORT_KEY has 5 bytes; use at least 32',
    );
  });
});
