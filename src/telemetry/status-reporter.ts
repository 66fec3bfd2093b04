// Reports the gateway's status to an OPA-compatible status service, as OPA's status plugin
// does: `POST <url>/status[/<partition_name>]` with a JSON status document, whenever the
// status changes (a bundle activated or refused, a part's state changed) and, unlike OPA,
// also at least every `interval` as a heartbeat, so a control plane sees a gateway that
// went quiet. A report that fails is tried again with backoff; one at a time.
import type { StatusConfig } from '../config/telemetry.js';
import { readValue } from '../config/secrets.js';
import type { Logger } from '../util/logger.js';

/** How often the status is compared with the last one sent. */
const CHECK_INTERVAL_MS = 1000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 60_000;

export interface StatusSource {
  /** What identifies the current status: a report goes out when it changes. */
  fingerprint(): string;
  /** The status document to send. */
  build(): Promise<Record<string, unknown>>;
}

export interface StatusReporterStats {
  sent: number;
  failed: number;
  last_sent_at: string | null;
  last_error: string | null;
}

export class StatusReporter {
  private readonly url: string;
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private lastFingerprint: string | undefined;
  private lastSentAt = 0;
  private retryAt = 0;
  private failures = 0;
  private readonly counts: StatusReporterStats = {
    sent: 0,
    failed: 0,
    last_sent_at: null,
    last_error: null,
  };

  constructor(
    private readonly config: StatusConfig,
    private readonly source: StatusSource,
    private readonly logger: Logger,
    private readonly onReport?: (result: 'success' | 'failure') => void,
  ) {
    this.url =
      config.partitionName === undefined
        ? `${config.url}/status`
        : `${config.url}/status/${encodeURIComponent(config.partitionName)}`;
  }

  /** Sends the first report now and checks for changes from then on. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), CHECK_INTERVAL_MS);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  stats(): StatusReporterStats {
    return { ...this.counts };
  }

  private async tick(): Promise<void> {
    if (this.sending) return;
    const now = Date.now();
    if (now < this.retryAt) return;
    const fingerprint = this.source.fingerprint();
    const due =
      fingerprint !== this.lastFingerprint || now - this.lastSentAt >= this.config.intervalMs;
    if (!due) return;
    this.sending = true;
    try {
      await this.send(await this.source.build());
      this.lastFingerprint = fingerprint;
      this.lastSentAt = Date.now();
      this.failures = 0;
      this.retryAt = 0;
      this.counts.sent++;
      this.counts.last_sent_at = new Date(this.lastSentAt).toISOString();
      this.counts.last_error = null;
      this.onReport?.('success');
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.failures++;
      this.retryAt = Date.now() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.failures - 1));
      this.counts.failed++;
      // Said once when it starts failing, and again when the cause changes.
      if (this.counts.last_error !== error) {
        this.logger.warn('status report failed; retrying with backoff', { url: this.url, error });
      }
      this.counts.last_error = error;
      this.onReport?.('failure');
    } finally {
      this.sending = false;
    }
  }

  private async send(document: Record<string, unknown>): Promise<void> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    for (const [name, source] of Object.entries(this.config.headers)) {
      headers[name] = readValue(source, `telemetry.status.headers.${name}`);
    }
    const res = await fetch(this.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(document),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`the status service answered ${res.status}`);
  }
}
