// Polls an OPA-compatible bundle server for a policy bundle (OPA's bundle service
// protocol: GET with If-None-Match, 304 when unchanged, 200 with the tarball and an ETag).
//
// - Delay between polls: random in [minDelayMs, maxDelayMs]. After a failed request
//   (network, timeout, non-200/304 status, oversized download) the delay backs off
//   exponentially from minDelayMs up to maxDelayMs, with some jitter.
// - Long polling (longPollingTimeoutS): requests carry `Prefer: wait=N`. A server that
//   supports it answers with content type application/vnd.openpolicyagent.bundles; then the
//   next request goes out at once after a 200, and after a 304 when the server actually
//   held the request (at least minDelayMs). A server that ignores the header is polled on
//   the normal schedule.
// - Downloads are capped at maxBytes while streaming (Content-Length is checked first);
//   every request has a timeout (requestTimeoutMs, plus the long-poll wait).
// - Header values are read from their references at every request, so rotated credentials
//   are picked up.
// - onBundle(bytes, etag) decides whether the bundle is taken; when it throws, onError
//   hears why and polling goes on. A refused bundle's ETag is still sent as If-None-Match,
//   so the same refused bundle is not downloaded again at every poll; a fixed bundle with a
//   new ETag is. `etag` (the bundle in force) is only updated by an accepted bundle.
import type { ValueSource } from '../../config/secrets.js';
import { readValue } from '../../config/secrets.js';
import { BundleError } from '../bundle/errors.js';
import { McpgateError } from '../../util/errors.js';

export const LONG_POLL_CONTENT_TYPE = 'application/vnd.openpolicyagent.bundles';
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export class BundleDownloadError extends McpgateError {
  static override readonly code = 'ERR_BUNDLE_DOWNLOAD';
}

export interface HttpBundleSourceOptions {
  url: string;
  headers: Record<string, ValueSource>;
  minDelayMs: number;
  maxDelayMs: number;
  longPollingTimeoutS?: number | undefined;
  /** Downloads larger than this are aborted. */
  maxBytes: number;
  /** Timeout of one request (long polls get the wait on top). Default 30 s. */
  requestTimeoutMs?: number;
  /** Random numbers in [0, 1) for delays and jitter (tests may fix them). */
  random?: () => number;
}

export interface HttpBundleCallbacks {
  /** A new bundle (HTTP 200). Throw (or reject) to refuse it. */
  onBundle: (bytes: Buffer, etag: string | undefined) => void | Promise<void>;
  /** A failed poll or a refused bundle; polling continues. */
  onError: (err: Error) => void;
}

type Outcome =
  | { kind: 'unchanged'; longPoll: boolean }
  | { kind: 'bundle'; bytes: Buffer; etag: string | undefined; longPoll: boolean };

/** The message of anything thrown (fetch's errors may come from another realm). */
function messageOf(thrown: unknown): string | undefined {
  if (typeof thrown === 'object' && thrown !== null && 'message' in thrown) {
    return String(thrown.message);
  }
  return undefined;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(messageOf(err) ?? String(err));
}

export class HttpBundleSource {
  private readonly random: () => number;
  private readonly requestTimeoutMs: number;
  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: AbortController | undefined;
  private failures = 0;
  private acceptedEtag: string | undefined;
  /** The ETag of the last bundle downloaded, taken or refused: sent as If-None-Match. */
  private seenEtag: string | undefined;

  constructor(
    private readonly options: HttpBundleSourceOptions,
    private readonly callbacks: HttpBundleCallbacks,
  ) {
    if (options.minDelayMs < 0 || options.maxDelayMs < options.minDelayMs) {
      throw new RangeError('HttpBundleSource: need 0 <= minDelayMs <= maxDelayMs');
    }
    this.random = options.random ?? Math.random;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** The ETag of the bundle last accepted by onBundle. */
  get etag(): string | undefined {
    return this.acceptedEtag;
  }

  /** Fetches at once; resolves when that first attempt is over (whatever its outcome). */
  async start(): Promise<void> {
    if (this.started) throw new Error('HttpBundleSource already started');
    this.started = true;
    await this.poll();
  }

  /** Cancels the timer and any request in flight; no callback runs after this. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight?.abort();
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    let delay: number;
    const began = Date.now();
    try {
      const outcome = await this.fetchOnce();
      if (this.stopped) return;
      this.failures = 0;
      let immediate = false;
      if (outcome.kind === 'bundle') {
        await this.deliver(outcome.bytes, outcome.etag);
        immediate = outcome.longPoll;
      } else {
        immediate = outcome.longPoll && Date.now() - began >= this.options.minDelayMs;
      }
      delay = immediate ? 0 : this.pollDelay();
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      this.report(asError(err));
      delay = this.backoffDelay();
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll(), delay);
    this.timer.unref?.();
  }

  private async deliver(bytes: Buffer, etag: string | undefined): Promise<void> {
    this.seenEtag = etag;
    try {
      await this.callbacks.onBundle(bytes, etag);
      this.acceptedEtag = etag;
    } catch (err) {
      if (!this.stopped) this.report(asError(err));
    }
  }

  private report(err: Error): void {
    try {
      this.callbacks.onError(err);
    } catch {
      // A failing error handler must not stop polling.
    }
  }

  private pollDelay(): number {
    const { minDelayMs, maxDelayMs } = this.options;
    return minDelayMs + this.random() * (maxDelayMs - minDelayMs);
  }

  private backoffDelay(): number {
    const { minDelayMs, maxDelayMs } = this.options;
    const base = Math.min(maxDelayMs, Math.max(minDelayMs, 1) * 2 ** (this.failures - 1));
    return Math.min(maxDelayMs, base * (0.8 + 0.2 * this.random()));
  }

  private requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, source] of Object.entries(this.options.headers)) {
      headers[name] = readValue(source, `policy.source.http.headers.${name}`);
    }
    if (this.seenEtag !== undefined) headers['If-None-Match'] = this.seenEtag;
    if (this.options.longPollingTimeoutS !== undefined) {
      headers.Prefer = `wait=${this.options.longPollingTimeoutS}`;
    }
    return headers;
  }

  private async fetchOnce(): Promise<Outcome> {
    const { url, maxBytes, longPollingTimeoutS } = this.options;
    const headers = this.requestHeaders();
    const controller = new AbortController();
    this.inFlight = controller;
    const timeoutMs = this.requestTimeoutMs + (longPollingTimeoutS ?? 0) * 1000;
    let timedOut = false;
    const timeout = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const response = await fetch(url, { headers, signal: controller.signal });
      if (url.startsWith('https:') && response.url.startsWith('http:')) {
        throw new BundleDownloadError(`GET ${url} was redirected to plain http (${response.url})`);
      }
      const longPoll =
        longPollingTimeoutS !== undefined &&
        (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ===
          LONG_POLL_CONTENT_TYPE;
      if (response.status === 304) {
        await response.body?.cancel();
        return { kind: 'unchanged', longPoll };
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new BundleDownloadError(`GET ${url}: HTTP ${response.status}`);
      }
      const declared = Number(response.headers.get('content-length') ?? Number.NaN);
      if (declared > maxBytes) {
        await response.body?.cancel();
        throw new BundleError(
          `GET ${url}: bundle is ${declared} bytes, over the limit of ${maxBytes} bytes ` +
            `(policy.max_bundle_bytes)`,
        );
      }
      const bytes = await this.readLimited(response, url, controller);
      return { kind: 'bundle', bytes, etag: response.headers.get('etag') ?? undefined, longPoll };
    } catch (err) {
      if (timedOut) {
        throw new BundleDownloadError(`GET ${url}: no complete answer within ${timeoutMs} ms`);
      }
      if (err instanceof BundleError || err instanceof BundleDownloadError) throw err;
      const cause =
        typeof err === 'object' && err !== null && 'cause' in err
          ? messageOf(err.cause)
          : undefined;
      const detail = [messageOf(err) ?? String(err), cause].filter(Boolean).join(': ');
      throw new BundleDownloadError(`GET ${url}: ${detail}`, { cause: err });
    } finally {
      clearTimeout(timeout);
      if (this.inFlight === controller) this.inFlight = undefined;
    }
  }

  private async readLimited(
    response: Response,
    url: string,
    controller: AbortController,
  ): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const body = response.body;
    if (!body) return Buffer.alloc(0);
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > this.options.maxBytes) {
        controller.abort();
        throw new BundleError(
          `GET ${url}: download passed the limit of ${this.options.maxBytes} bytes ` +
            `(policy.max_bundle_bytes); aborted`,
        );
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks);
  }
}
