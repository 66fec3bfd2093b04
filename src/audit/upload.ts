// Uploads decision-log events to an OPA-compatible decision-log service: POST of a gzipped
// JSON array (Content-Encoding: gzip, Content-Type: application/json).
//
// push() is synchronous and O(1): the event (already serialised) goes into a bounded ring
// buffer and nothing else happens on the caller's stack. Uploads run in the background:
// every flush interval (everything waiting at the tick) and as soon as a full batch is
// waiting. A failed upload (network error, non-2xx) is retried with exponential backoff
// from the head of the buffer, so events arrive in the order they were written. When the
// buffer is full, refusal() says so and the gateway refuses requests until there is room
// (`when_full: refuse`, the default), or the oldest event is dropped and counted
// (`drop_oldest`, what OPA does). close() makes one last attempt to upload what is left,
// bounded by a short timeout, and returns what it could not upload (the decision log spools
// it; the next start uploads it first).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { ServiceDestination } from '../config/policy.js';
import { readValue } from '../config/secrets.js';
import type { Logger } from '../util/logger.js';

const gzip = promisify(gzipCallback);

/** Resolves after ms without keeping the process alive. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export interface UploadStats {
  /** Events the service accepted (2xx). */
  sent: number;
  /** Events dropped because the buffer was full (the oldest go first). */
  dropped_buffer: number;
  /** Upload attempts that failed (network error, timeout, non-2xx, unreadable header secret). */
  failed_attempts: number;
  /** Events waiting to be uploaded (including a batch in flight). */
  buffered: number;
}

/** Events uploaded first at start (from a spool file): `done` once they are all sent. */
interface Recovered {
  untilSeq: number;
  done: () => void;
}

export interface UploaderOptions {
  logger: Logger;
  /** Bound on the final flush in close(). Default 2000 ms. */
  closeTimeoutMs?: number;
  /** Bound on one upload request. Default 30000 ms. */
  requestTimeoutMs?: number;
  /** Jitter source in [0, 1) for the retry delay; default Math.random. */
  random?: () => number;
}

/** A FIFO ring buffer of serialised events; every event has a sequence number. */
class EventQueue {
  private items: Array<string | undefined> = new Array<string | undefined>(64);
  private head = 0;
  size = 0;
  /** Sequence number of the oldest event held. */
  headSeq = 0;

  push(event: string): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) % this.items.length] = event;
    this.size++;
  }

  shift(): void {
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.size--;
    this.headSeq++;
  }

  /** The oldest n events, oldest first. */
  peek(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      out.push(this.items[(this.head + i) % this.items.length] as string);
    }
    return out;
  }

  private grow(): void {
    const items = new Array<string | undefined>(this.items.length * 2);
    for (let i = 0; i < this.size; i++) items[i] = this.items[(this.head + i) % this.items.length];
    this.items = items;
    this.head = 0;
  }
}

interface InFlight {
  /** Sequence number just past the batch. */
  end: number;
  /** Batch events the buffer dropped while the upload ran (counted only if it fails). */
  droppedMeanwhile: number;
  abort: () => void;
}

export class DecisionLogUploader {
  private readonly queue = new EventQueue();
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly ticker: NodeJS.Timeout;
  private readonly closeTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly random: () => number;
  private readonly logger: Logger;

  private readonly counters = { sent: 0, dropped_buffer: 0, failed_attempts: 0 };
  /** Why the last upload failed, until one works again. */
  private lastError: string | undefined;
  private readonly recovered: Recovered[] = [];
  /** Upload everything up to this sequence number (set by the ticker). */
  private drainUntil = 0;
  private retries = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private pumpScheduled = false;
  private inFlight: InFlight | undefined;
  /** Buffer drops not yet reported in the log. */
  private unreportedDrops = 0;
  /** close() was called: no more timers; the final flush sends everything it can. */
  private closing = false;
  private shutdownDone: Promise<{ events: string[]; error: string }> | undefined;
  /** close() ran out of time: no new upload starts. */
  private abandoned = false;
  /** close() finished: events pushed now are dropped. */
  private closed = false;

  constructor(
    private readonly destination: ServiceDestination,
    options: UploaderOptions,
  ) {
    this.url = new URL(destination.url);
    this.logger = options.logger;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.agent =
      this.url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true })
        : new HttpAgent({ keepAlive: true });
    this.ticker = setInterval(() => this.tick(), destination.flushIntervalMs);
    this.ticker.unref();
  }

  /** `service:<url>`: how the destination is named in refusals, spool files and logs. */
  get name(): string {
    return `service:${this.destination.url}`;
  }

  /**
   * Why no event can be accepted now: the buffer is full and the destination refuses rather
   * than drops (`when_full: refuse`), or the uploader is closed. Undefined otherwise.
   */
  refusal(): string | undefined {
    if (this.closing)
      return `the decision log (${this.name}) is closed: the gateway is shutting down`;
    const max = this.destination.maxBufferEvents;
    if ((this.destination.whenFull ?? 'refuse') !== 'refuse' || this.queue.size < max) {
      return undefined;
    }
    const cause = this.lastError
      ? `uploading fails (${this.lastError})`
      : 'the service is slower than the decisions';
    return (
      `the decision log (${this.name}) has ${this.queue.size} events waiting to be uploaded ` +
      `(max_buffer_events ${max}): ${cause}`
    );
  }

  /**
   * Events a spool file kept from an earlier run: queued ahead of everything and uploaded at
   * once; `done` is called once all of them are accepted by the service.
   */
  recover(events: readonly string[], done: () => void): void {
    for (const event of events) this.queue.push(event);
    this.recovered.push({ untilSeq: this.queue.headSeq + this.queue.size, done });
    this.drainUntil = this.queue.headSeq + this.queue.size;
    this.schedulePump();
  }

  /** Queues one serialised event. Synchronous, O(1), never throws, never waits. */
  push(eventJson: string): void {
    if (this.closed) {
      this.countDrops(1);
      return;
    }
    if (
      this.queue.size >= this.destination.maxBufferEvents &&
      this.destination.whenFull === 'drop_oldest'
    ) {
      const droppedSeq = this.queue.headSeq;
      this.queue.shift();
      if (this.inFlight && droppedSeq < this.inFlight.end) this.inFlight.droppedMeanwhile++;
      else this.countDrops(1);
    }
    this.queue.push(eventJson);
    if (this.queue.size >= this.destination.batchMaxEvents) this.schedulePump();
  }

  stats(): UploadStats {
    return { ...this.counters, buffered: this.queue.size };
  }

  /**
   * Stops the timers and makes one bounded attempt to upload what is left; resolves with the
   * events it could not upload, oldest first, and why. Idempotent.
   */
  close(): Promise<{ events: string[]; error: string }> {
    this.shutdownDone ??= this.shutdown();
    return this.shutdownDone;
  }

  private async shutdown(): Promise<{ events: string[]; error: string }> {
    this.closing = true;
    clearInterval(this.ticker);
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    const deadline = delay(this.closeTimeoutMs);
    // Waits for an upload in progress, then (closing) sends the rest in batches.
    const flushed = (async () => {
      await this.pumping;
      await this.pump();
    })();
    await Promise.race([flushed, deadline]);
    this.abandoned = true;
    if (this.inFlight) {
      // Out of time: abort the upload and let it settle (an abort fails it at once).
      this.inFlight.abort();
      await Promise.race([flushed, delay(100)]);
    }
    this.reportDrops();
    const left = this.queue.peek(this.queue.size);
    if (left.length > 0) {
      this.logger.warn(`${left.length} decision events not uploaded at shutdown`, {
        url: this.destination.url,
      });
    }
    this.agent.destroy();
    this.closed = true;
    return { events: left, error: this.lastError ?? 'no time left to upload them at shutdown' };
  }

  private countDrops(n: number): void {
    this.counters.dropped_buffer += n;
    this.unreportedDrops += n;
  }

  private reportDrops(): void {
    if (this.unreportedDrops === 0) return;
    this.logger.warn(`${this.unreportedDrops} decision events dropped: buffer full`, {
      url: this.destination.url,
      max_buffer_events: this.destination.maxBufferEvents,
    });
    this.unreportedDrops = 0;
  }

  private tick(): void {
    this.reportDrops();
    if (this.queue.size === 0) return;
    this.drainUntil = this.queue.headSeq + this.queue.size;
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.pumping || this.retryTimer || this.closing) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (!this.pumping && !this.retryTimer && !this.closing) void this.pump();
    });
  }

  private wantsUpload(): boolean {
    const q = this.queue;
    if (q.size === 0 || this.abandoned) return false;
    return (
      this.closing ||
      this.retries > 0 ||
      q.headSeq < this.drainUntil ||
      q.size >= this.destination.batchMaxEvents
    );
  }

  /** Uploads batches while there is a reason to; on failure, schedules a retry. */
  private pump(): Promise<void> {
    if (this.pumping) return this.pumping;
    const run = async (): Promise<void> => {
      while (this.wantsUpload()) {
        const ok = await this.uploadBatch();
        if (ok) {
          this.retries = 0;
          continue;
        }
        this.retries++;
        if (this.closing) return;
        const { initialDelayMs, maxDelayMs } = this.destination.retry;
        const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(this.retries - 1, 30));
        const retryInMs = Math.max(1, Math.round(base * (0.75 + 0.25 * this.random())));
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (!this.closing) void this.pump();
        }, retryInMs);
        this.retryTimer.unref();
        return;
      }
    };
    this.pumping = run().finally(() => {
      this.pumping = undefined;
    });
    return this.pumping;
  }

  private async uploadBatch(): Promise<boolean> {
    const batch = this.queue.peek(Math.min(this.queue.size, this.destination.batchMaxEvents));
    const flight: InFlight = {
      end: this.queue.headSeq + batch.length,
      droppedMeanwhile: 0,
      abort: () => undefined,
    };
    this.inFlight = flight;
    let error: string | undefined;
    try {
      const headers: Record<string, string> = {};
      for (const [name, source] of Object.entries(this.destination.headers)) {
        headers[name] = readValue(
          source,
          `audit destination ${this.destination.url} header ${name}`,
        );
      }
      const body = await gzip(`[${batch.join(',')}]`);
      if (this.abandoned) throw new Error('aborted at shutdown');
      const status = await this.post(body, headers, flight);
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    } finally {
      this.inFlight = undefined;
    }
    if (error === undefined) {
      this.counters.sent += batch.length;
      this.lastError = undefined;
      // Events of the batch the buffer already dropped are gone; remove the rest.
      while (this.queue.size > 0 && this.queue.headSeq < flight.end) this.queue.shift();
      while (
        this.recovered.length > 0 &&
        (this.recovered[0] as Recovered).untilSeq <= this.queue.headSeq
      ) {
        (this.recovered.shift() as Recovered).done();
      }
      return true;
    }
    this.lastError = error;
    this.counters.failed_attempts++;
    this.countDrops(flight.droppedMeanwhile);
    this.logger.warn(`decision log upload failed${this.closing ? '' : '; will retry'}`, {
      url: this.destination.url,
      error,
      events: batch.length,
      buffered: this.queue.size,
    });
    return false;
  }

  private post(body: Buffer, headers: Record<string, string>, flight: InFlight): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          timeout: this.requestTimeoutMs,
          headers: {
            ...headers,
            'Content-Type': 'application/json',
            'Content-Encoding': 'gzip',
            'Content-Length': String(body.length),
          },
        },
        (res: IncomingMessage) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      flight.abort = () => req.destroy(new Error('aborted at shutdown'));
      req.on('timeout', () =>
        req.destroy(new Error(`no response within ${this.requestTimeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}
