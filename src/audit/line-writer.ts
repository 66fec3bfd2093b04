// Where decision-log lines go when the destination is stdout or a file, and how they get
// there without ever stalling the gateway.
//
// write() never blocks: the event is encoded into its line (chained: chain.ts) and queued as
// bytes outside the JS heap, and once per event-loop turn everything queued goes out in one
// writev. While a write is in flight, new lines wait for the next one: a slow disk makes
// the batches larger, not the event loop slower. One write in flight at a time keeps the
// lines in the order they were chained.
//
// Where the writev runs: stdout's always on libuv's thread pool (a pipe's reader can hold
// it up). A file's on the event loop (writevSync) while such writes take under
// sync_write_limit_ms (2 ms by default), then on the thread pool for a minute after one
// that took longer. Why both: appending one line at a time with a synchronous write, as the
// sink first did, stalled every request in flight whenever the kernel held a write
// (journal commit, writeback, a busy disk: on the bench machine, with other processes using
// the disk, 69 of 170 slow appends in five minutes took over 5 ms, the slowest 117 ms). On
// the thread pool alone, each batch is a hand-over to another thread and back, which on a
// gateway with one core cost three times the write itself (22.7 against 7.2 µs of CPU for
// a batch of three lines) and, at 1,000 calls/s, moved the p99 latency from 5-7 ms to
// 9-56 ms. One slow write now costs one stall, bounded by that write, then a minute of
// batches on the thread pool.
//
// When a line counts as accepted (the call it records may then be served) is the
// destination's `accept`: `written` (the default) once the operating system has taken the
// write that holds it, which the caller awaits (only that call waits, not the event loop);
// `queued` as soon as it is queued. refusal() says when no line can be accepted now: the
// queue holds max_buffer_bytes, or (`written`) writing fails, or the writer is closed. The
// gateway then refuses requests before the policy decides them.
//
// A failed write (ENOSPC, EIO, EPIPE, …) loses nothing: its lines stay at the head of the
// queue and are tried again with backoff (100 ms doubling to 5 s); the error is logged (then
// at most once a minute) and shown in /readyz. Callers waiting for those lines are told at
// once (their calls are refused; the lines still record the decisions).
//
// At the end nothing queued is lost without a trace: close() (SIGTERM, SIGINT) waits for the
// write in flight and writes the rest synchronously, and a process 'exit' for any other reason
// (process.exit, an uncaught exception) does the same. If that final write fails, the lines
// go to a spool file (spool.ts) that the next start delivers; if even that fails, to stderr.
// Only a kill the process cannot see (SIGKILL, the OOM killer) loses what was still queued:
// with `accept: written` only lines whose calls were not served yet.
import { createHash, type KeyObject } from 'node:crypto';
import {
  close as closeFd,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  open as openFd,
  openSync,
  readdirSync,
  rename,
  renameSync,
  writev,
  writevSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, parse } from 'node:path';
import { DEFAULT_MAX_BUFFER_BYTES, DEFAULT_SYNC_WRITE_LIMIT_MS } from '../config/policy-schema.js';
import { McpgateError } from '../util/errors.js';
import { LineChain, positionAfter, type ChainPosition } from './chain.js';
import { deliverSpools, describe, readTail, writeSpool, type Delivered } from './spool.js';

const RETRY_INITIAL_MS = 100;
const RETRY_MAX_MS = 5000;
/** A pipe or socket that is full answers EAGAIN when non-blocking: not a failure, just wait. */
const AGAIN_MS = 10;
const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
/** A destination that keeps failing is reported again at most this often. */
const REPEAT_REPORT_MS = 60_000;

export type AcceptWhen = 'written' | 'queued';

export interface LineSinkStatus {
  /** `stdout`, or `file:<path>`. */
  destination: string;
  accept: AcceptWhen;
  /** Bytes written by the gateway and not yet accepted by the OS (queued or in flight). */
  buffered_bytes: number;
  max_buffer_bytes: number;
  /** Lines the OS has accepted. */
  written_lines: number;
  /** write system calls (writev) that completed: one per batch. */
  writes: number;
  /** Writes that failed (each retry counts). */
  failed_writes: number;
  /** Files rotated (max_file_bytes). */
  rotations: number;
  /**
   * Where the next batch is written: `event_loop` (a regular file whose writes are fast),
   * or `thread_pool` (stdout, a pipe or device, sync_write_limit_ms 0, or for a minute after
   * a write on the event loop took longer than that limit).
   */
  write_mode: 'event_loop' | 'thread_pool';
  /** The error of the last write, while writes fail; null once one succeeds again. */
  error: string | null;
  error_at: string | null;
  /** New requests are refused: the bound is reached, or (accept: written) writes fail. */
  refusing: boolean;
  /** The chain's last line: its seq and SHA-256, to compare with the file (`audit verify`). */
  last_seq: number | null;
  last_hash: string | null;
}

/** What close() (or the exit hook) did with lines it could not write to the destination. */
export interface SinkCloseReport {
  destination: string;
  /** Lines written to a spool file instead (the next start delivers them). */
  spooled?: { file: string; lines: number; error: string };
  /** Lines neither written nor spooled: printed on stderr as a last resort. */
  unsaved?: { lines: number; error: string };
}

export interface LineSink {
  /**
   * Chains and queues one event (a JSON object's text). Call only when refusal() is
   * undefined. Never blocks. With `accept: written`, resolves once the line is written and
   * rejects (LineWriteFailed) when its write fails; with `queued`, undefined.
   */
  write(event: string): Promise<void> | undefined;
  status(): LineSinkStatus;
  /** Why no line can be accepted now (new requests must be refused), or undefined. */
  refusal(): string | undefined;
  /**
   * Waits for the write in flight (at most closeTimeoutMs), writes what is still queued
   * synchronously, spools what cannot be written, and closes the file. Later lines are refused.
   */
  close(): Promise<SinkCloseReport>;
}

export interface LineSinkOptions {
  maxBufferBytes?: number;
  /** When a line counts as accepted. Default `written`. */
  accept?: AcceptWhen;
  /** Signs every line (audit.hmac_key). */
  hmacKey?: KeyObject;
  /** Files only: rotate before the file grows past this. */
  maxFileBytes?: number;
  /**
   * Files only: a batch is written on the event loop (writevSync) while such writes take
   * under this many milliseconds; one that takes longer sends the file's writes to libuv's
   * thread pool for SLOW_WRITE_BACKOFF_MS. 0: always the thread pool. Default
   * DEFAULT_SYNC_WRITE_LIMIT_MS.
   */
  syncWriteLimitMs?: number;
  /** Where lines go that cannot be written at the end (audit.spool_dir). */
  spoolDir: string;
  /** Bound on waiting for the write in flight at close(). Default 2000 ms. */
  closeTimeoutMs?: number;
  /** Where failures and losses are reported (a failure that repeats, once a minute). */
  onError: (message: string, meta: Record<string, unknown>) => void;
  onRecovered: (message: string, meta: Record<string, unknown>) => void;
  /** Start-up notices: spool files delivered, a file that ended in an incomplete line. */
  onNotice?: (message: string, meta: Record<string, unknown>) => void;
}

/** A line's write failed: the call it records must not be served (the line is kept). */
export class LineWriteFailed extends McpgateError {
  static override readonly code = 'ERR_AUDIT_LINE_NOT_WRITTEN';
}

/** Rename the current file to `to` and start a new one at the sink's path. */
interface Rotation {
  rotateTo: string;
  renamed: boolean;
}

type Entry = Buffer | Rotation;

interface Waiter {
  /** Resolves once this many lines (counted since the sink opened) are written. */
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** After a slower write, how long the file's writes go to the thread pool before trying again. */
export const SLOW_WRITE_BACKOFF_MS = 60_000;

/** Every sink, for the synchronous write at process exit. */
const open = new Set<LineWriter>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const writer of open) writer.finishSync();
  });
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function isRotation(entry: Entry | undefined): entry is Rotation {
  return entry !== undefined && !Buffer.isBuffer(entry);
}

class LineWriter implements LineSink {
  private queue: Entry[] = [];
  /** Bytes of queue[0] already written (a partial write); the rest goes next. */
  private headOffset = 0;
  /** Unwritten bytes in the queue. */
  private queuedBytes = 0;
  private inFlight:
    | { lines: Buffer[]; offset: number; bytes: number; done: Promise<void> }
    | { rotation: Rotation; bytes: 0; done: Promise<void> }
    | undefined;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_INITIAL_MS;
  /** close() has begun: no new asynchronous write starts; the rest is written synchronously. */
  private stopping = false;
  private closed = false;
  private closing: Promise<SinkCloseReport> | undefined;
  private readonly accept: AcceptWhen;
  private readonly maxBufferBytes: number;
  private readonly closeTimeoutMs: number;
  private readonly counts = { written_lines: 0, writes: 0, failed_writes: 0, rotations: 0 };
  /** Lines accepted since the sink opened; a waiter resolves once written_lines reaches its upTo. */
  private acceptedLines = 0;
  /** The callers waiting for their line to be written (accept: written), in line order. */
  private waiters: Waiter[] = [];
  private error: { text: string; at: Date } | undefined;
  private lastReportAt = -Infinity;
  private unreported = 0;
  /** Bytes in the current file, queued ones included (for max_file_bytes). */
  private fileBytes: number;
  private lastRotationStamp = '';

  constructor(
    private fd: number | undefined,
    private readonly destination: string,
    /** The file's path, or undefined for stdout (fd 1 stays open). */
    private readonly path: string | undefined,
    private readonly chain: LineChain,
    private readonly options: LineSinkOptions,
    /** The first line names the rotated file the chain continues from. */
    private firstContinues?: string,
  ) {
    this.accept = options.accept ?? 'written';
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const stat = path !== undefined && fd !== undefined ? fstatSync(fd) : undefined;
    this.fileBytes = stat?.size ?? 0;
    this.regularFile = stat?.isFile() === true;
    installExitHook();
    open.add(this);
  }

  write(event: string): Promise<void> | undefined {
    if (this.stopping) return this.writeAfterClose(event);
    let continues = this.firstContinues;
    this.firstContinues = undefined;
    const max = this.options.maxFileBytes;
    if (max !== undefined && this.fileBytes > 0 && this.fileBytes + event.length > max) {
      const rotateTo = this.rotatedName();
      this.queue.push({ rotateTo, renamed: false });
      this.fileBytes = 0;
      continues = basename(rotateTo);
    }
    const line = this.chain.link(event, continues);
    this.queue.push(line);
    this.queuedBytes += line.length;
    this.fileBytes += line.length;
    this.acceptedLines++;
    if (!this.scheduled && this.inFlight === undefined && this.retryTimer === undefined) {
      this.scheduled = true;
      // Once per turn: every line of this turn goes out in the same write.
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
    if (this.accept === 'queued') return undefined;
    // One waiter per line: after a partial write, the calls whose lines did get out go on.
    let waiter!: Waiter;
    const promise = new Promise<void>((resolve, reject) => {
      waiter = { upTo: this.acceptedLines, resolve, reject };
    });
    // A caller that does not wait (a denial) must not see an unhandled rejection.
    promise.catch(() => undefined);
    this.waiters.push(waiter);
    return promise;
  }

  status(): LineSinkStatus {
    const last = this.chain.last;
    return {
      destination: this.destination,
      accept: this.accept,
      buffered_bytes: this.bufferedBytes(),
      max_buffer_bytes: this.maxBufferBytes,
      ...this.counts,
      write_mode: this.writeMode,
      error: this.error?.text ?? null,
      error_at: this.error?.at.toISOString() ?? null,
      refusing: this.refusal() !== undefined,
      last_seq: last?.seq ?? null,
      last_hash: last?.hash ?? null,
    };
  }

  refusal(): string | undefined {
    if (this.stopping) {
      return `the decision log (${this.destination}) is closed: the gateway is shutting down`;
    }
    const buffered = this.bufferedBytes();
    if (buffered >= this.maxBufferBytes) {
      const cause = this.error
        ? `writing to it fails (${this.error.text})`
        : 'storage is slower than the decisions';
      return (
        `the decision log (${this.destination}) has ${mib(buffered)} waiting to be written ` +
        `(max_buffer_bytes ${this.maxBufferBytes}): ${cause}`
      );
    }
    if (this.accept === 'written' && this.error) {
      return (
        `the decision log (${this.destination}) cannot be written (${this.error.text}); ` +
        `no call is served until its decision can be recorded`
      );
    }
    return undefined;
  }

  close(): Promise<SinkCloseReport> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * At process exit: what is queued (not a write in flight), synchronously; what cannot be
   * written is spooled. Also the last step of close().
   */
  finishSync(): SinkCloseReport {
    const report: SinkCloseReport = { destination: this.destination };
    if (this.queue.length === 0) {
      open.delete(this);
      return report;
    }
    let error: unknown;
    try {
      this.writeQueueSync();
    } catch (err) {
      error = err;
    }
    const lines = this.queue.filter((e): e is Buffer => Buffer.isBuffer(e));
    this.queue = [];
    this.queuedBytes = 0;
    const why = error === undefined ? 'the destination was already closed' : describe(error);
    if (lines.length > 0) this.spool(lines, why, report);
    this.settleWaiters();
    open.delete(this);
    return report;
  }

  private bufferedBytes(): number {
    return this.queuedBytes + (this.inFlight?.bytes ?? 0);
  }

  private flush(): void {
    if (
      this.stopping ||
      this.inFlight ||
      this.retryTimer ||
      this.queue.length === 0 ||
      this.fd === undefined
    ) {
      return;
    }
    if (isRotation(this.queue[0])) {
      this.rotate(this.queue[0]);
      return;
    }
    // Every line up to the next rotation, the first from where a partial write stopped.
    let count = 0;
    while (count < this.queue.length && !isRotation(this.queue[count])) count++;
    const lines = this.queue.splice(0, count) as Buffer[];
    const offset = this.headOffset;
    const bufs = offset === 0 ? lines : [(lines[0] as Buffer).subarray(offset), ...lines.slice(1)];
    let bytes = 0;
    for (const buf of bufs) bytes += buf.length;
    this.headOffset = 0;
    this.queuedBytes -= bytes;
    if (this.writesOnLoop()) {
      // Into the page cache, a batch takes microseconds: written here, with no hand-over
      // to a thread (on a gateway with one core, the hand-over cost three times the write).
      const started = performance.now();
      let written: number;
      try {
        written = writevSync(this.fd, bufs);
      } catch (err) {
        this.failed(err as NodeJS.ErrnoException, lines, offset, bytes);
        return;
      }
      this.timedWrite(performance.now() - started);
      this.wrote(lines, offset, bytes, written);
      return;
    }
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    this.inFlight = { lines, offset, bytes, done };
    writev(this.fd, bufs, (err, written) => {
      this.inFlight = undefined;
      if (err) this.failed(err, lines, offset, bytes);
      else this.wrote(lines, offset, bytes, written);
      settle();
    });
  }

  /** Until when (Date.now()) this file's writes go to the thread pool after a slow one. */
  private threadPoolUntil = 0;

  /** How the next batch is written: on the event loop, or on libuv's thread pool. */
  get writeMode(): 'event_loop' | 'thread_pool' {
    return this.writesOnLoop() ? 'event_loop' : 'thread_pool';
  }

  /**
   * Whether the destination is a regular file: only then is a write on the event loop. A
   * pipe or a device (a FIFO, /dev/stdout, /dev/full) can block a write for as long as its
   * other end likes; stdout likewise.
   */
  private readonly regularFile: boolean;

  private writesOnLoop(): boolean {
    if (!this.regularFile) return false;
    const limit = this.options.syncWriteLimitMs ?? DEFAULT_SYNC_WRITE_LIMIT_MS;
    return limit > 0 && Date.now() >= this.threadPoolUntil;
  }

  /** A write on the event loop took `ms`: over the limit, the next ones leave it for a while. */
  private timedWrite(ms: number): void {
    const limit = this.options.syncWriteLimitMs ?? DEFAULT_SYNC_WRITE_LIMIT_MS;
    if (ms <= limit) return;
    this.threadPoolUntil = Date.now() + SLOW_WRITE_BACKOFF_MS;
    this.options.onNotice?.(
      `a decision-log write took ${ms.toFixed(1)} ms on the event loop (limit ${limit} ms): ` +
        `this file's writes go to the thread pool for the next ${SLOW_WRITE_BACKOFF_MS / 1000} s`,
      { destination: this.destination, took_ms: Math.round(ms * 10) / 10 },
    );
  }

  private wrote(lines: Buffer[], offset: number, bytes: number, written: number): void {
    this.counts.writes++;
    if (written < bytes) {
      // A partial write: the rest goes back to the head of the queue and out at once.
      let done = 0;
      let at = offset + written;
      while (done < lines.length && at >= (lines[done] as Buffer).length) {
        at -= (lines[done] as Buffer).length;
        done++;
      }
      this.lineWritten(done);
      this.requeue(lines.slice(done), at, bytes - written);
      this.flush();
      return;
    }
    this.lineWritten(lines.length);
    this.writable();
    this.flush();
  }

  private lineWritten(count: number): void {
    this.counts.written_lines += count;
    while (
      this.waiters.length > 0 &&
      (this.waiters[0] as Waiter).upTo <= this.counts.written_lines
    ) {
      (this.waiters.shift() as Waiter).resolve();
    }
  }

  /** A write or a rotation worked: the destination is healthy again. */
  private writable(): void {
    this.retryMs = RETRY_INITIAL_MS;
    if (!this.error) return;
    this.options.onRecovered('decision log destination is writable again', {
      destination: this.destination,
      failed_since: this.error.at.toISOString(),
      buffered_bytes: this.bufferedBytes(),
    });
    this.error = undefined;
    this.lastReportAt = -Infinity;
    this.unreported = 0;
  }

  private failed(err: NodeJS.ErrnoException, lines: Buffer[], offset: number, bytes: number): void {
    this.requeue(lines, offset, bytes);
    this.failure(err);
  }

  private failure(err: NodeJS.ErrnoException): void {
    if (err.code === 'EAGAIN') {
      // A non-blocking pipe is full: the reader is slow, nothing is wrong.
      this.retryLater(AGAIN_MS);
      return;
    }
    this.counts.failed_writes++;
    const first = this.error === undefined;
    this.error = { text: describe(err), at: this.error?.at ?? new Date() };
    // The callers waiting for these lines learn it now; their lines stay queued.
    const waiting = this.waiters;
    this.waiters = [];
    const failure = new LineWriteFailed(
      `the decision log (${this.destination}) could not write this decision (${this.error.text})`,
    );
    for (const waiter of waiting) waiter.reject(failure);
    const now = Date.now();
    if (first || now - this.lastReportAt >= REPEAT_REPORT_MS) {
      this.options.onError(
        first
          ? 'decision log destination cannot be written; the lines are kept and retried'
          : 'decision log destination still cannot be written',
        {
          destination: this.destination,
          error: this.error.text,
          buffered_bytes: this.bufferedBytes(),
          max_buffer_bytes: this.maxBufferBytes,
          retry_in_ms: this.retryMs,
          ...(this.unreported > 0 ? { failed_writes_not_reported: this.unreported } : {}),
        },
      );
      this.lastReportAt = now;
      this.unreported = 0;
    } else {
      this.unreported++;
    }
    this.retryLater(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private requeue(lines: Buffer[], offset: number, bytes: number): void {
    if (lines.length === 0) return;
    this.queue = (lines as Entry[]).concat(this.queue);
    this.headOffset = offset;
    this.queuedBytes += bytes;
  }

  private retryLater(ms: number): void {
    if (this.stopping) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flush();
    }, ms);
    // The gateway's server keeps the process alive; a retry must not keep a CLI alive.
    this.retryTimer.unref();
  }

  /** The current file's name after rotation: the time before the extension, so names sort in order. */
  private rotatedName(): string {
    const path = this.path as string;
    const { dir, name, ext } = parse(path);
    let stamp = new Date().toISOString().replace(/[-:.]/g, '');
    // Unique: never the same name twice, never an existing file.
    while (stamp <= this.lastRotationStamp || existsSync(join(dir, `${name}.${stamp}${ext}`))) {
      stamp = new Date(Date.parse(isoOf(stamp)) + 1).toISOString().replace(/[-:.]/g, '');
    }
    this.lastRotationStamp = stamp;
    return join(dir, `${name}.${stamp}${ext}`);
  }

  /** Renames the current file away and opens a new one, off the event loop. */
  private rotate(rotation: Rotation): void {
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    this.inFlight = { rotation, bytes: 0, done };
    const path = this.path as string;
    const fail = (err: NodeJS.ErrnoException): void => {
      this.inFlight = undefined;
      this.failure(err);
      settle();
    };
    const reopen = (): void => {
      openFd(path, 'a', (err, fd) => {
        if (err) {
          fail(err);
          return;
        }
        const old = this.fd;
        this.fd = fd;
        this.queue.shift();
        this.counts.rotations++;
        this.inFlight = undefined;
        if (old !== undefined) closeFd(old, () => undefined);
        this.writable();
        settle();
        this.flush();
      });
    };
    if (rotation.renamed) {
      reopen();
      return;
    }
    rename(path, rotation.rotateTo, (err) => {
      if (err) {
        fail(err);
        return;
      }
      rotation.renamed = true;
      reopen();
    });
  }

  /** Writes the queue synchronously, rotations included; throws at the first failure (the rest stays queued). */
  private writeQueueSync(): void {
    while (this.queue.length > 0 && this.fd !== undefined) {
      const head = this.queue[0];
      if (isRotation(head)) {
        const path = this.path as string;
        if (!head.renamed) renameSync(path, head.rotateTo);
        head.renamed = true;
        const fd = openSync(path, 'a');
        closeSync(this.fd);
        this.fd = fd;
        this.queue.shift();
        this.counts.rotations++;
        continue;
      }
      const line = head as Buffer;
      writeAllSync(this.fd, line.subarray(this.headOffset), this.closeTimeoutMs);
      this.queuedBytes -= line.length - this.headOffset;
      this.headOffset = 0;
      this.queue.shift();
      this.lineWritten(1);
    }
  }

  /** Lines that cannot reach the destination: to a spool file, else (last resort) to stderr. */
  private spool(lines: Buffer[], error: string, report: SinkCloseReport): void {
    try {
      const file = writeSpool(this.options.spoolDir, this.destination, lines, error);
      report.spooled = { file, lines: lines.length, error };
      this.options.onError('decision log lines spooled: the destination could not take them', {
        destination: this.destination,
        lines: lines.length,
        spool: file,
        error,
      });
    } catch (spoolErr) {
      const spoolError = describe(spoolErr);
      report.unsaved = { lines: lines.length, error: `${error}; spool: ${spoolError}` };
      this.options.onError(
        'decision log lines could be neither written nor spooled: they follow on stderr',
        { destination: this.destination, lines: lines.length, error, spool_error: spoolError },
      );
      for (const line of lines) {
        const text = line.toString('utf8', 0, line.length - 1);
        const record = JSON.stringify({
          level: 'error',
          message: 'unsaved decision log line',
          destination: this.destination,
          line: text,
        });
        try {
          writeAllSync(2, Buffer.from(`${record}\n`), this.closeTimeoutMs);
        } catch {
          // stderr is gone too: nothing is left to write to
        }
      }
    }
  }

  /** After the end: whoever still waits learns whether the line was written. */
  private settleWaiters(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) {
      if (waiter.upTo <= this.counts.written_lines) waiter.resolve();
      else
        waiter.reject(
          new LineWriteFailed(
            `the decision log (${this.destination}) could not write this decision before shutdown`,
          ),
        );
    }
  }

  private async shutdown(): Promise<SinkCloseReport> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const inFlight = this.inFlight;
    if (inFlight) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        inFlight.done,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
    // A write that hangs: its lines may or may not reach the destination. They are spooled
    // after the rest; delivery at the next start skips those the destination has by then.
    const hung =
      this.inFlight !== undefined && 'lines' in this.inFlight ? this.inFlight : undefined;
    if (this.inFlight) {
      this.options.onError('decision log write still in flight at shutdown', {
        destination: this.destination,
        bytes: this.inFlight.bytes,
        waited_ms: this.closeTimeoutMs,
      });
      if (hung) {
        this.queue = (hung.lines as Entry[]).concat(this.queue);
        this.headOffset = 0;
        // The fd may still be in use by the hung write: the rest goes to the spool.
        this.fd = undefined;
      }
    }
    this.closed = true;
    const report =
      this.fd === undefined && this.queue.length > 0
        ? this.spoolAll('a write was still in flight at shutdown')
        : this.finishSync();
    if (this.path !== undefined && this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch (err) {
        this.options.onError('decision log file could not be closed', {
          destination: this.destination,
          error: describe(err),
        });
      }
    }
    this.fd = undefined;
    return report;
  }

  /**
   * Nothing decides once close() began (refusal() says so); a line that comes anyway is
   * written synchronously if the destination is still open, spooled otherwise.
   */
  private writeAfterClose(event: string): undefined {
    const line = this.chain.link(event);
    this.queue.push(line);
    this.queuedBytes += line.length;
    if (this.closed) this.finishSync();
    return undefined;
  }

  private spoolAll(error: string): SinkCloseReport {
    const report: SinkCloseReport = { destination: this.destination };
    const lines = this.queue.filter((e): e is Buffer => Buffer.isBuffer(e));
    this.queue = [];
    this.queuedBytes = 0;
    if (lines.length > 0) this.spool(lines, error, report);
    this.settleWaiters();
    open.delete(this);
    return report;
  }
}

/** `20260501T120000123Z` back to ISO 8601. */
function isoOf(stamp: string): string {
  return (
    `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T` +
    `${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}.${stamp.slice(15, 18)}Z`
  );
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `buf`, blocking. Used only where blocking is right (shutdown, exit, start):
 * a non-blocking pipe that is full (EAGAIN) is waited for, up to `patienceMs` in all.
 */
function writeAllSync(fd: number, buf: Buffer, patienceMs: number): void {
  let offset = 0;
  const deadline = Date.now() + patienceMs;
  while (offset < buf.length) {
    try {
      offset += writeSync(fd, buf, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, AGAIN_MS);
    }
  }
}

function notifyDelivered(
  delivered: Delivered[],
  destination: string,
  options: LineSinkOptions,
): void {
  for (const d of delivered) {
    options.onNotice?.('decision log lines delivered from a spool file left by an earlier run', {
      destination,
      ...d,
    });
  }
}

/**
 * Starts the chain after the file's last line; an incomplete last line is closed first. An
 * empty file continues the chain of its latest rotated file, if there is one (a restart
 * between a rotation and the first line of the new file), and its first line names it.
 */
function chainAfterFile(
  fd: number,
  readFd: number,
  path: string,
  destination: string,
  options: LineSinkOptions,
): { chain: LineChain; continues?: string } {
  const tail = readTail(readFd);
  let after: ChainPosition | undefined;
  if (tail.line === undefined && tail.fragment === undefined) {
    const rotated = latestRotated(path);
    if (rotated !== undefined) {
      const rotatedFd = openSync(rotated, 'r');
      try {
        const end = readTail(rotatedFd);
        const last = end.fragment ?? end.line;
        if (last !== undefined) {
          return {
            chain: new LineChain(positionAfter(last), options.hmacKey),
            continues: basename(rotated),
          };
        }
      } finally {
        closeSync(rotatedFd);
      }
    }
  }
  if (tail.fragment !== undefined) {
    // A write cut short (the process was killed while storage was full): the fragment
    // becomes a line of its own, which verify reports, and the chain goes on after it.
    writeAllSync(fd, Buffer.from('\n'), DEFAULT_CLOSE_TIMEOUT_MS);
    after = { seq: undefined, hash: createHash('sha256').update(tail.fragment).digest('hex') };
    options.onNotice?.(
      'decision log file ended in an incomplete line (a write cut short); it was closed with a newline and the chain continues after it',
      { destination, bytes: tail.fragment.length },
    );
  } else if (tail.line !== undefined) {
    after = positionAfter(tail.line);
  }
  return { chain: new LineChain(after, options.hmacKey) };
}

/** The most recent file rotation renamed `path` to (`<name>.<UTC time><ext>`), if any. */
function latestRotated(path: string): string | undefined {
  const { dir, name, ext } = parse(path);
  const pattern = new RegExp(`^${escapeRegExp(name)}\\.\\d{8}T\\d{9}Z${escapeRegExp(ext)}$`);
  const names = readdirSync(dir)
    .filter((n) => pattern.test(n))
    .sort();
  const latest = names.at(-1);
  return latest === undefined ? undefined : join(dir, latest);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function stdoutSink(options: LineSinkOptions): LineSink {
  // fd 1 directly, not process.stdout: a stream there would buffer without bound when the
  // reader is slow (pipes are asynchronous on some platforms) or block the loop (Linux).
  const { delivered, last } = deliverSpools(options.spoolDir, 'stdout', 1, undefined);
  notifyDelivered(delivered, 'stdout', options);
  // stdout cannot be read back: the chain starts anew in each process, or goes on after the
  // last line of a spool file delivered just now.
  const chain = new LineChain(last && positionAfter(last), options.hmacKey);
  return new LineWriter(1, 'stdout', undefined, chain, options);
}

/**
 * Appends to `path` (its directory is created), after delivering what a spool file holds for
 * it; the chain continues after the file's last line. Opening fails loudly at start-up.
 */
export function fileSink(path: string, options: LineSinkOptions): LineSink {
  mkdirSync(dirname(path), { recursive: true });
  const destination = `file:${path}`;
  const fd = openSync(path, 'a');
  // A regular file is read back (its end: where the chain stands); a FIFO or a device is not.
  const readFd = fstatSync(fd).isFile() ? openSync(path, 'r') : undefined;
  try {
    notifyDelivered(
      deliverSpools(options.spoolDir, destination, fd, readFd).delivered,
      destination,
      options,
    );
    const start =
      readFd === undefined
        ? { chain: new LineChain(undefined, options.hmacKey) }
        : chainAfterFile(fd, readFd, path, destination, options);
    return new LineWriter(fd, destination, path, start.chain, options, start.continues);
  } catch (err) {
    closeSync(fd);
    throw err;
  } finally {
    if (readFd !== undefined) closeSync(readFd);
  }
}
