// Where decision-log lines go when the destination is stdout or a file, and how they get
// there without ever stalling the gateway.
//
// write() never waits: the line is queued (already encoded, so the queue is counted in
// bytes and lives outside the JS heap), and once per event-loop turn everything queued goes
// out in one writev on libuv's thread pool. While that write is in flight, new lines wait
// for the next one: a slow disk makes the batches larger, not the requests slower. One
// write in flight at a time keeps the lines in the order they were written.
//
// Why: the sink used to append each line with a synchronous write on the event loop. That
// is cheap while the page cache takes it (15-30 µs), but the kernel sometimes holds a write
// for milliseconds to a tenth of a second (journal commit, writeback, a busy disk), and then
// every request in flight waited: on the bench machine, with other processes using the disk,
// 69 of 170 slow appends in five minutes took over 5 ms, the slowest 117 ms.
//
// A failed write (ENOSPC, EIO, EPIPE, …) loses nothing: the bytes not written stay at the
// head of the queue and are tried again with backoff (100 ms doubling to 5 s), the error is
// logged (then at most once a minute) and shown in /readyz, and the gateway is not ready.
// The queue is bounded: once `maxBufferBytes` wait (storage failing, or slower than the
// decisions), refusal() says why and the gateway refuses new requests before the policy
// decides them (fail closed: no decision that cannot be recorded), until the queue is
// below the bound again.
//
// Nothing queued is lost when the process ends normally: close() (SIGTERM, SIGINT) waits
// for the write in flight and writes the rest synchronously, and a process 'exit' for any
// other reason (process.exit, an uncaught exception) writes the queue synchronously. Only a
// kill the process cannot see (SIGKILL, the OOM killer) loses what was still queued: normally
// the lines of the last event-loop turn.
import { closeSync, mkdirSync, openSync, writev, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_MAX_BUFFER_BYTES } from '../config/policy-schema.js';

const RETRY_INITIAL_MS = 100;
const RETRY_MAX_MS = 5000;
/** A pipe or socket that is full answers EAGAIN when non-blocking: not a failure, just wait. */
const AGAIN_MS = 10;
const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
/** A destination that keeps failing is reported again at most this often. */
const REPEAT_REPORT_MS = 60_000;

export interface LineSinkStatus {
  /** `stdout`, or `file:<path>`. */
  destination: string;
  /** Bytes written by the gateway and not yet accepted by the OS (queued or in flight). */
  buffered_bytes: number;
  max_buffer_bytes: number;
  /** Lines the OS has accepted. */
  written_lines: number;
  /** write system calls (writev) that completed: one per batch. */
  writes: number;
  /** Writes that failed (each retry counts). */
  failed_writes: number;
  /** The error of the last write, while writes fail; null once one succeeds again. */
  error: string | null;
  error_at: string | null;
  /** The bound is reached: new requests are refused. */
  refusing: boolean;
}

export interface LineSink {
  /** Queues one encoded line (with its newline). Never throws, never waits. */
  write(line: Buffer): void;
  status(): LineSinkStatus;
  /** Why new requests must be refused now (the queue is full), or undefined. */
  refusal(): string | undefined;
  /**
   * Waits for the write in flight (at most closeTimeoutMs), writes what is still queued
   * synchronously, and closes the file. Lines written later are appended synchronously.
   */
  close(): Promise<void>;
}

export interface LineSinkOptions {
  maxBufferBytes?: number;
  /** Bound on waiting for the write in flight at close(). Default 2000 ms. */
  closeTimeoutMs?: number;
  /** Where failures and losses are reported (a failure that repeats, once a minute). */
  onError: (message: string, meta: Record<string, unknown>) => void;
  onRecovered: (message: string, meta: Record<string, unknown>) => void;
}

/** Encodes one line with its newline, once, for every destination. */
export function encodeLine(line: string): Buffer {
  const length = Buffer.byteLength(line);
  const buf = Buffer.allocUnsafe(length + 1);
  buf.write(line, 0, length, 'utf8');
  buf[length] = 0x0a;
  return buf;
}

/** Every sink with lines queued, for the synchronous write at process exit. */
const open = new Set<LineWriter>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const writer of open) writer.writeQueuedSync();
  });
}

function errorText(err: NodeJS.ErrnoException): string {
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

class LineWriter implements LineSink {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private inFlight: { bufs: Buffer[]; bytes: number; done: Promise<void> } | undefined;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_INITIAL_MS;
  /** close() has begun: no new asynchronous write starts; the rest is written synchronously. */
  private stopping = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly maxBufferBytes: number;
  private readonly closeTimeoutMs: number;
  private readonly counts = { written_lines: 0, writes: 0, failed_writes: 0 };
  private error: { text: string; at: Date } | undefined;
  private lastReportAt = -Infinity;
  private unreported = 0;

  constructor(
    private fd: number | undefined,
    private readonly destination: string,
    /** Appends after close(): the file path, or undefined for stdout (fd 1 stays open). */
    private readonly path: string | undefined,
    private readonly options: LineSinkOptions,
  ) {
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    installExitHook();
  }

  write(line: Buffer): void {
    if (this.closed) {
      this.writeAfterClose(line);
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    open.add(this);
    if (!this.scheduled && this.inFlight === undefined && this.retryTimer === undefined) {
      this.scheduled = true;
      // Once per turn: every line of this turn goes out in the same write.
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  status(): LineSinkStatus {
    return {
      destination: this.destination,
      buffered_bytes: this.bufferedBytes(),
      max_buffer_bytes: this.maxBufferBytes,
      ...this.counts,
      error: this.error?.text ?? null,
      error_at: this.error?.at.toISOString() ?? null,
      refusing: this.bufferedBytes() >= this.maxBufferBytes,
    };
  }

  refusal(): string | undefined {
    const buffered = this.bufferedBytes();
    if (buffered < this.maxBufferBytes) return undefined;
    const cause = this.error
      ? `writing to it fails (${this.error.text})`
      : 'storage is slower than the decisions';
    return (
      `the decision log (${this.destination}) has ${mib(buffered)} waiting to be written ` +
      `(max_buffer_bytes ${this.maxBufferBytes}): ${cause}`
    );
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** At close() and process exit: what is queued (not the write in flight), synchronously. */
  writeQueuedSync(): void {
    if (this.fd === undefined || this.queue.length === 0) return;
    const bufs = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const before = this.counts.written_lines;
    try {
      for (const buf of bufs) {
        writeAllSync(this.fd, buf, this.closeTimeoutMs);
        this.counts.written_lines++;
      }
    } catch (err) {
      this.options.onError('decision log lines lost: the final synchronous write failed', {
        destination: this.destination,
        lines: bufs.length - (this.counts.written_lines - before),
        error: errorText(err as NodeJS.ErrnoException),
      });
    }
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
    const bufs = this.queue;
    const bytes = this.queuedBytes;
    this.queue = [];
    this.queuedBytes = 0;
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    this.inFlight = { bufs, bytes, done };
    writev(this.fd, bufs, (err, written) => {
      this.inFlight = undefined;
      if (err) this.failed(err, bufs, bytes);
      else this.wrote(bufs, bytes, written);
      settle();
    });
  }

  private wrote(bufs: Buffer[], bytes: number, written: number): void {
    this.counts.writes++;
    if (written < bytes) {
      // A partial write: the rest goes back to the head of the queue and out at once.
      const rest = remainder(bufs, written);
      this.counts.written_lines += bufs.length - rest.length;
      this.requeue(rest, bytes - written);
      this.flush();
      return;
    }
    this.counts.written_lines += bufs.length;
    this.retryMs = RETRY_INITIAL_MS;
    if (this.error) {
      this.options.onRecovered('decision log destination is writable again', {
        destination: this.destination,
        failed_since: this.error.at.toISOString(),
        buffered_bytes: this.bufferedBytes(),
      });
      this.error = undefined;
      this.lastReportAt = -Infinity;
      this.unreported = 0;
    }
    if (this.queue.length === 0) {
      if (!this.inFlight) open.delete(this);
      return;
    }
    this.flush();
  }

  private failed(err: NodeJS.ErrnoException, bufs: Buffer[], bytes: number): void {
    this.requeue(bufs, bytes);
    if (err.code === 'EAGAIN') {
      // A non-blocking pipe is full: the reader is slow, nothing is wrong.
      this.retryLater(AGAIN_MS);
      return;
    }
    this.counts.failed_writes++;
    const first = this.error === undefined;
    this.error = { text: errorText(err), at: this.error?.at ?? new Date() };
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

  private requeue(bufs: Buffer[], bytes: number): void {
    this.queue = bufs.concat(this.queue);
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

  private async shutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.inFlight) {
      let timer: NodeJS.Timeout | undefined;
      const inFlight = this.inFlight.done;
      await Promise.race([
        inFlight,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (this.inFlight) {
        // Storage that hangs: the queue is written after this, so these lines may land
        // after later ones (or not at all, if the write never returns).
        this.options.onError('decision log write still in flight at shutdown', {
          destination: this.destination,
          bytes: this.inFlight.bytes,
          waited_ms: this.closeTimeoutMs,
        });
      }
    }
    this.closed = true;
    // The rest synchronously: the gateway is stopping, nothing else waits on the loop now.
    this.writeQueuedSync();
    open.delete(this);
    if (this.path !== undefined && this.fd !== undefined && !this.inFlight) {
      try {
        closeSync(this.fd);
      } catch (err) {
        this.options.onError('decision log file could not be closed', {
          destination: this.destination,
          error: errorText(err as NodeJS.ErrnoException),
        });
      }
    }
    this.fd = undefined;
  }

  /** Nothing decides after close(); if something does, its line is still written. */
  private writeAfterClose(line: Buffer): void {
    let fd: number | undefined;
    try {
      fd = this.path === undefined ? 1 : openSync(this.path, 'a');
      writeAllSync(fd, line, this.closeTimeoutMs);
      this.counts.written_lines++;
    } catch (err) {
      this.options.onError('decision log line lost: written after close and the write failed', {
        destination: this.destination,
        error: errorText(err as NodeJS.ErrnoException),
      });
    } finally {
      if (this.path !== undefined && fd !== undefined) closeSync(fd);
    }
  }
}

/** The buffers not yet written after `written` bytes of `bufs` were. */
function remainder(bufs: Buffer[], written: number): Buffer[] {
  let skip = written;
  let i = 0;
  while (i < bufs.length && skip >= (bufs[i] as Buffer).length) {
    skip -= (bufs[i] as Buffer).length;
    i++;
  }
  const rest = bufs.slice(i);
  if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
  return rest;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `buf`, blocking. Used only where blocking is right (shutdown, exit): a
 * non-blocking pipe that is full (EAGAIN) is waited for, up to `patienceMs` in all.
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

export function stdoutSink(options: LineSinkOptions): LineSink {
  // fd 1 directly, not process.stdout: a stream there would buffer without bound when the
  // reader is slow (pipes are asynchronous on some platforms) or block the loop (Linux).
  return new LineWriter(1, 'stdout', undefined, options);
}

/** Appends to `path` (its directory is created). Opening fails loudly at start-up. */
export function fileSink(path: string, options: LineSinkOptions): LineSink {
  mkdirSync(dirname(path), { recursive: true });
  return new LineWriter(openSync(path, 'a'), `file:${path}`, path, options);
}
