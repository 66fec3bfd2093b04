// The decision log's stdout and file writer on real files, real FIFOs (a reader that does
// not read is storage that stalls; a reader that goes away is a write that fails with EPIPE),
// /dev/full (ENOSPC) and real child processes (exit, crash, stdout). Nothing is timed: every
// wait is for a condition, bounded by a deadline.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineChain } from '../../src/audit/chain.js';
import { fileSink, type LineSink, type LineSinkOptions } from '../../src/audit/line-writer.js';
import { fileURLToPath } from 'node:url';

// The module under test as this compiled test imports it, for the child processes below.
const LINES_MODULE = fileURLToPath(new URL('../../src/audit/line-writer.js', import.meta.url));

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-decision-lines-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Reported {
  errors: Array<{ message: string; meta: Record<string, unknown> }>;
  recoveries: Array<{ message: string; meta: Record<string, unknown> }>;
}

function options(extra: Partial<LineSinkOptions> = {}): LineSinkOptions & { reported: Reported } {
  const reported: Reported = { errors: [], recoveries: [] };
  return {
    onError: (message, meta) => reported.errors.push({ message, meta }),
    onRecovered: (message, meta) => reported.recoveries.push({ message, meta }),
    spoolDir: join(dir, `spool-${++counter}`),
    ...extra,
    reported,
  };
}

/** A written line without its chain member: the event as it was handed to the sink. */
function unchained(line: string): string {
  return line.replace(/,"chain":\{[^{}]*\}\}$/, '}');
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Polls `condition` every 5 ms until it holds; fails with `what` after 20 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function line(i: number, pad = 200): string {
  return JSON.stringify({ decision_id: `d-${i}`, pad: 'x'.repeat(pad) });
}

/** The events in a file, chain members taken off. */
function fileLines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map(unchained);
}

/** The child processes' line (header below): 300 characters of padding. */
function line300(i: number): string {
  return JSON.stringify({ decision_id: `d-${i}`, pad: 'y'.repeat(300) });
}

function freshPath(name = 'decisions'): string {
  return join(dir, `${name}-${++counter}.jsonl`);
}

/** A FIFO with a reader opened first (non-blocking), so the sink's open does not block. */
function fifo(): { path: string; reader: number; received: () => string; read: () => number } {
  const path = freshPath('fifo');
  execFileSync('mkfifo', [path]);
  let reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  return {
    path,
    get reader() {
      return reader;
    },
    set reader(fd: number) {
      reader = fd;
    },
    received: () => Buffer.concat(chunks).toString('utf8'),
    /** Reads what is in the pipe now; returns the byte count. */
    read: () => {
      let total = 0;
      for (;;) {
        let n: number;
        try {
          n = readSync(reader, buf, 0, buf.length, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return total;
          throw err;
        }
        if (n === 0) return total;
        chunks.push(Buffer.from(buf.subarray(0, n)));
        total += n;
      }
    },
  };
}

async function drain(sink: LineSink, pipe: ReturnType<typeof fifo>): Promise<void> {
  await until(() => {
    pipe.read();
    return sink.status().buffered_bytes === 0;
  }, 'the sink to write everything to the FIFO');
  pipe.read();
}

describe('decision-log lines: batching and order', () => {
  it('writes the lines of one event-loop turn with one write, in order', async () => {
    const path = freshPath();
    const sink = fileSink(path, options());
    const expected = Array.from({ length: 300 }, (_, i) => line(i));
    for (const l of expected) void sink.write(l);
    expect(sink.status().buffered_bytes).toBeGreaterThan(0);
    await until(() => sink.status().buffered_bytes === 0, 'the batch to be written');
    expect(fileLines(path)).toEqual(expected);
    expect(sink.status()).toMatchObject({
      destination: `file:${path}`,
      written_lines: 300,
      writes: 1,
      failed_writes: 0,
      error: null,
      refusing: false,
    });
    await sink.close();
  });

  it('puts the lines written while a write is in flight into the next write', async () => {
    const pipe = fifo();
    const sink = fileSink(pipe.path, options());
    // Larger than the pipe holds: this write stays in flight until the test reads.
    const big = line(0, 1 << 20);
    void sink.write(big);
    await nextTurn();
    await nextTurn();
    const later = Array.from({ length: 20 }, (_, i) => line(i + 1));
    for (const l of later) {
      void sink.write(l);
      await nextTurn();
    }
    expect(sink.status().writes).toBe(0);
    await drain(sink, pipe);
    expect(pipe.received().split('\n').filter(Boolean).map(unchained)).toEqual([big, ...later]);
    expect(sink.status()).toMatchObject({ writes: 2, written_lines: 21 });
    await sink.close();
    closeSync(pipe.reader);
  });
});

describe('decision-log lines: where a file is written', () => {
  it('writes a regular file on the event loop: each batch is written before the next turn', async () => {
    const path = freshPath();
    const sink = fileSink(path, options());
    expect(sink.status().write_mode).toBe('event_loop');
    for (let batch = 0; batch < 3; batch++) {
      const lines = Array.from({ length: 50 }, (_, i) => line(batch * 50 + i));
      for (const l of lines) void sink.write(l);
      // The turn's batch goes out in the setImmediate after it, synchronously: nothing is
      // left buffered once that has run.
      await nextTurn();
      await nextTurn();
      expect(sink.status().buffered_bytes).toBe(0);
    }
    expect(fileLines(path)).toHaveLength(150);
    expect(sink.status()).toMatchObject({
      written_lines: 150,
      writes: 3,
      write_mode: 'event_loop',
    });
    await sink.close();
  });

  it('moves to the thread pool after a write slower than the limit, and says so', async () => {
    const path = freshPath();
    const notices: string[] = [];
    // A limit no write can keep: the first write is "slow".
    const sink = fileSink(path, {
      ...options(),
      syncWriteLimitMs: 1e-9,
      onNotice: (message) => void notices.push(message),
    });
    expect(sink.status().write_mode).toBe('event_loop');
    void sink.write(line(0));
    await until(() => sink.status().buffered_bytes === 0, 'the first write');
    expect(sink.status().write_mode).toBe('thread_pool');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      /^a decision-log write took [\d.]+ ms on the event loop \(limit 1e-9 ms\): this file's writes go to the thread pool for the next 60 s$/,
    );
    // Later batches: on the thread pool, in order, nothing lost, no further notice.
    const later = Array.from({ length: 100 }, (_, i) => line(i + 1));
    for (const l of later) void sink.write(l);
    await until(() => sink.status().buffered_bytes === 0, 'the later writes');
    expect(fileLines(path)).toEqual([line(0), ...later]);
    expect(notices).toHaveLength(1);
    await sink.close();
  });

  it('never writes on the event loop with sync_write_limit_ms 0, nor to a FIFO', async () => {
    const path = freshPath();
    const sink = fileSink(path, { ...options(), syncWriteLimitMs: 0 });
    expect(sink.status().write_mode).toBe('thread_pool');
    void sink.write(line(0));
    await until(() => sink.status().buffered_bytes === 0, 'the write');
    expect(fileLines(path)).toEqual([line(0)]);
    await sink.close();
    const pipe = fifo();
    const piped = fileSink(pipe.path, options());
    expect(piped.status().write_mode).toBe('thread_pool');
    void piped.write(line(1));
    await drain(piped, pipe);
    expect(pipe.received().split('\n').filter(Boolean).map(unchained)).toEqual([line(1)]);
    await piped.close();
  });
});

describe('decision-log lines: slow storage', () => {
  it('refuses once max_buffer_bytes wait, keeps every line, and recovers when storage catches up', async () => {
    const pipe = fifo();
    const sink = fileSink(pipe.path, options({ maxBufferBytes: 64 * 1024 }));
    expect(sink.refusal()).toBeUndefined();
    const first = line(0, 1 << 20);
    void sink.write(first);
    await nextTurn();
    const more = Array.from({ length: 50 }, (_, i) => line(i + 1, 4000));
    for (const l of more) void sink.write(l);
    const refusal = sink.refusal();
    expect(refusal).toContain(`the decision log (file:${pipe.path}) has`);
    expect(refusal).toContain('waiting to be written (max_buffer_bytes 65536)');
    expect(refusal).toContain('storage is slower than the decisions');
    expect(sink.status()).toMatchObject({ refusing: true, error: null, max_buffer_bytes: 65536 });
    await drain(sink, pipe);
    expect(sink.refusal()).toBeUndefined();
    expect(sink.status().refusing).toBe(false);
    expect(pipe.received().split('\n').filter(Boolean).map(unchained)).toEqual([first, ...more]);
    await sink.close();
    closeSync(pipe.reader);
  });
});

describe('decision-log lines: failing storage', () => {
  it('keeps and retries the lines of a failed write (EPIPE), says so, and writes them once it works again', async () => {
    const pipe = fifo();
    const opts = options();
    const sink = fileSink(pipe.path, opts);
    // The only reader goes away: every write now fails with EPIPE.
    closeSync(pipe.reader);
    const lines = Array.from({ length: 5 }, (_, i) => line(i));
    const waiting = lines.map((l) => sink.write(l))[4];
    await until(() => sink.status().error !== null, 'the write to fail');
    const failing = sink.status();
    expect(failing.error).toMatch(/^EPIPE: /);
    expect(failing.error_at).not.toBeNull();
    expect(failing.failed_writes).toBeGreaterThanOrEqual(1);
    expect(failing.written_lines).toBe(0);
    // The lines as the sink chained them, bytes and all.
    const chain = new LineChain(undefined, undefined);
    expect(failing.buffered_bytes).toBe(lines.reduce((n, l) => n + chain.link(l).length, 0));
    expect(opts.reported.errors[0]?.message).toBe(
      'decision log destination cannot be written; the lines are kept and retried',
    );
    expect(opts.reported.errors[0]?.meta).toMatchObject({
      destination: `file:${pipe.path}`,
      error: failing.error,
    });
    // accept: written (the default): a failing destination refuses at once, under its bound
    // too (with accept: queued it would not: see decision-log.test.ts).
    expect(sink.refusal()).toMatch(/cannot be written \(EPIPE: .*no call is served until/);
    await expect(waiting).rejects.toThrow(/could not write this decision \(EPIPE: /);
    // The retry fails too; within the minute that is counted, not logged again.
    await until(() => sink.status().failed_writes >= 2, 'a retry to fail');
    expect(opts.reported.errors).toHaveLength(1);
    // A reader again: the retry writes everything, in order.
    pipe.reader = openSync(pipe.path, constants.O_RDONLY | constants.O_NONBLOCK);
    await drain(sink, pipe);
    expect(pipe.received().split('\n').filter(Boolean).map(unchained)).toEqual(lines);
    expect(sink.status()).toMatchObject({ error: null, error_at: null, written_lines: 5 });
    expect(opts.reported.errors).toHaveLength(1);
    expect(opts.reported.recoveries).toHaveLength(1);
    expect(opts.reported.recoveries[0]?.meta).toMatchObject({ destination: `file:${pipe.path}` });
    await sink.close();
    closeSync(pipe.reader);
  });

  it('refuses past its bound while writes fail, naming the error', async () => {
    const opts = options({ maxBufferBytes: 64 * 1024 });
    const sink = fileSink('/dev/full', opts);
    for (let i = 0; i < 40; i++) void sink.write(line(i, 4000));
    await until(() => sink.status().error !== null, 'the write to fail');
    expect(sink.status().error).toMatch(/^ENOSPC: /);
    expect(sink.refusal()).toContain('writing to it fails (ENOSPC: ');
    // Storage that never recovers: close() tries once more, synchronously, and spools the lines.
    const report = await sink.close();
    expect(report.spooled).toMatchObject({ lines: 40 });
    expect(report.spooled?.error).toMatch(/^ENOSPC: /);
    const spooled = opts.reported.errors.find((e) => e.message.includes('spooled'));
    expect(spooled?.meta).toMatchObject({ destination: 'file:/dev/full', lines: 40 });
    const spoolText = readFileSync(report.spooled?.file ?? '', 'utf8').split('\n');
    expect(spoolText.slice(1).filter(Boolean).map(unchained)).toEqual(
      Array.from({ length: 40 }, (_, i) => line(i, 4000)),
    );
  });

  it('fails at start-up when the file cannot be opened', () => {
    const blocker = freshPath('not-a-dir');
    rmSync(blocker, { force: true });
    execFileSync('touch', [blocker]);
    expect(() => fileSink(join(blocker, 'decisions.jsonl'), options())).toThrow(/ENOTDIR|EEXIST/);
  });
});

describe('decision-log lines: shutdown and exit', () => {
  it('close() writes what is queued, then refuses; a line written anyway is spooled', async () => {
    const path = freshPath();
    const opts = options();
    const sink = fileSink(path, opts);
    const expected = Array.from({ length: 50 }, (_, i) => line(i));
    for (const l of expected) void sink.write(l);
    // Before the turn ends: nothing has been written yet.
    expect(await sink.close()).toEqual({ destination: `file:${path}` });
    expect(fileLines(path)).toEqual(expected);
    expect(sink.refusal()).toBe(
      `the decision log (file:${path}) is closed: the gateway is shutting down`,
    );
    void sink.write(line(50));
    expect(fileLines(path)).toEqual(expected);
    const spooled = opts.reported.errors.find((e) => e.message.includes('spooled'));
    expect(spooled?.meta).toMatchObject({ destination: `file:${path}`, lines: 1 });
  });

  /** Runs a Node script that uses the compiled sink; resolves with its exit code and output. */
  function runChild(
    script: string,
    stdio: Array<'pipe' | 'ignore' | number> = ['ignore', 'pipe', 'pipe'],
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  const header = (sinkExpr: string) => `
    import { fileSink, stdoutSink } from ${JSON.stringify(LINES_MODULE)};
    const opts = {
      onError: (m, meta) => console.error(m, JSON.stringify(meta)),
      onRecovered: () => {},
      closeTimeoutMs: 60000,
      spoolDir: ${JSON.stringify(join(tmpdir(), 'mcpgate-lines-child-spool'))},
    };
    const sink = ${sinkExpr};
    const line = (i) => JSON.stringify({ decision_id: 'd-' + i, pad: 'y'.repeat(300) });
  `;

  it('writes the queue when the process dies of an uncaught exception', async () => {
    const path = freshPath();
    const { code, stderr } = await runChild(`${header(`fileSink(${JSON.stringify(path)}, opts)`)}
      for (let i = 0; i < 500; i++) void sink.write(line(i));
      throw new Error('crash before the turn ends');
    `);
    expect(code).toBe(1);
    expect(stderr).toContain('crash before the turn ends');
    expect(fileLines(path)).toHaveLength(500);
    expect(fileLines(path)[499]).toContain('"d-499"');
  });

  it('a regular file written on the event loop that refuses a write (EFBIG) keeps the lines and refuses calls', async () => {
    // A real failing write on a regular file: the child's file size is limited to 4 KB
    // (ulimit -f 8, 512-byte blocks) and SIGXFSZ ignored, so writevSync fails with EFBIG.
    const path = freshPath();
    const script = `${header(`fileSink(${JSON.stringify(path)}, opts)`)}
      process.on('SIGXFSZ', () => {});
      const mode = sink.status().write_mode;
      for (let i = 0; i < 40; i++) void sink.write(line(i));
      await new Promise((resolve) => setTimeout(resolve, 200));
      console.log(JSON.stringify({ mode, status: sink.status(), refusal: sink.refusal() }));
    `;
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn(
        'bash',
        ['-c', 'ulimit -f 8; exec "$0" --input-type=module -e "$1"', process.execPath, script],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });
    expect(code).toBe(0);
    const seen = JSON.parse(stdout) as {
      mode: string;
      status: { error: string; refusing: boolean; written_lines: number; buffered_bytes: number };
      refusal: string;
    };
    expect(seen.mode).toBe('event_loop');
    expect(seen.status.error).toMatch(/^EFBIG: /);
    expect(seen.status.refusing).toBe(true);
    expect(seen.status.written_lines).toBeLessThan(40);
    expect(seen.status.buffered_bytes).toBeGreaterThan(0);
    expect(seen.refusal).toContain('cannot be written (EFBIG: ');
    // What reached the file is lines in order, the last one possibly cut at the limit (a
    // partial write; the next start completes it). The rest was kept and, as nothing could
    // be written at exit (the spool is a file too), went to stderr: none is lost.
    const written = fileLines(path);
    const whole = written.filter((l) => l.endsWith('}'));
    expect(whole).toEqual(Array.from({ length: whole.length }, (_, i) => line300(i)));
    expect(written.length - whole.length).toBeLessThanOrEqual(1);
    if (written.length > whole.length) {
      expect(written.at(-1)).toMatch(new RegExp(`^\\{"decision_id":"d-${whole.length}"`));
    }
    for (let i = whole.length; i < 40; i++) expect(stderr).toContain(`d-${i}\\"`);
  });

  it('writes the queue on process.exit()', async () => {
    const path = freshPath();
    const { code } = await runChild(`${header(`fileSink(${JSON.stringify(path)}, opts)`)}
      for (let i = 0; i < 200; i++) void sink.write(line(i));
      process.exit(0);
    `);
    expect(code).toBe(0);
    expect(
      fileLines(path).map((l) => (JSON.parse(l) as { decision_id: string }).decision_id),
    ).toEqual(Array.from({ length: 200 }, (_, i) => `d-${i}`));
  });

  it('stdout: every line in order, also through partial writes to a full non-blocking pipe', async () => {
    // The child's stdout is a FIFO made non-blocking (as it is once anything in the process
    // touches process.stdout): a large batch is written in parts, and EAGAIN (the reader is
    // behind) is waited out, not counted as a failure.
    const pipe = fifo();
    const writer = openSync(pipe.path, constants.O_WRONLY | constants.O_NONBLOCK);
    const script = `${header('stdoutSink(opts)')}
      void process.stdout;
      for (let i = 0; i < 2000; i++) void sink.write(line(i));
      // Written in the background while the parent reads; close() once all of it is out.
      while (sink.status().buffered_bytes > 0) await new Promise((r) => setTimeout(r, 5));
      const status = sink.status();
      await sink.close();
      console.error('STATUS ' + JSON.stringify(status));
    `;
    const done = runChild(script, ['ignore', writer, 'pipe']);
    closeSync(writer);
    let exited = false;
    const result = done.then((r) => {
      exited = true;
      return r;
    });
    await until(() => {
      pipe.read();
      return exited;
    }, 'the child to write 2000 lines and exit');
    pipe.read();
    const { code, stderr } = await result;
    expect(code).toBe(0);
    const ids = pipe
      .received()
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
    expect(ids).toEqual(Array.from({ length: 2000 }, (_, i) => `d-${i}`));
    const status = JSON.parse(/STATUS (.*)/.exec(stderr)?.[1] ?? '{}') as Record<string, unknown>;
    expect(status).toMatchObject({
      destination: 'stdout',
      written_lines: 2000,
      failed_writes: 0,
      error: null,
    });
    // More than one write: the pipe took the batch in parts.
    expect(status.writes).toBeGreaterThan(1);
    closeSync(pipe.reader);
  });

  it('stdout: close() writes the queue synchronously, waiting out a full non-blocking pipe', async () => {
    const pipe = fifo();
    const writer = openSync(pipe.path, constants.O_WRONLY | constants.O_NONBLOCK);
    const script = `${header('stdoutSink(opts)')}
      void process.stdout;
      for (let i = 0; i < 1000; i++) void sink.write(line(i));
      await sink.close();
    `;
    const done = runChild(script, ['ignore', writer, 'pipe']);
    closeSync(writer);
    let exited = false;
    const result = done.then((r) => {
      exited = true;
      return r;
    });
    await until(() => {
      pipe.read();
      return exited;
    }, 'the child to write 1000 lines at close and exit');
    pipe.read();
    const { code, stderr } = await result;
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(pipe.received().split('\n').filter(Boolean).map(unchained)).toHaveLength(1000);
    closeSync(pipe.reader);
  });
});
