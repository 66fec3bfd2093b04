// One client session: who owns it, its purpose, and the bounded record of its decided calls
// that the policy sees as input.session.
import type { Identity } from '../identity/identity.js';

export interface HistoryEntry {
  action: string;
  target: string;
  args_digest: string;
  allowed: boolean;
  at: string;
}

export interface SessionCounters {
  calls: number;
  denied: number;
}

export class Session {
  readonly createdAt = Date.now();
  lastSeenAt = Date.now();
  private readonly historyRing: HistoryEntry[] = [];
  readonly counters: SessionCounters = { calls: 0, denied: 0 };
  /** Negotiated at initialize; recorded for the policy's request context. */
  clientInfo: { name: string; version: string } | undefined;
  /** Set by the session/open decision (obligation session_ttl_s); undefined: no limit. */
  ttlSeconds: number | undefined;

  constructor(
    readonly id: string,
    /** issuer + stable subject; every request must present a token of this principal. */
    readonly principal: string,
    readonly purpose: string,
    private readonly historyLimit: number,
  ) {}

  get history(): readonly HistoryEntry[] {
    return this.historyRing;
  }

  touch(): void {
    this.lastSeenAt = Date.now();
  }

  record(entry: HistoryEntry): void {
    this.counters.calls++;
    if (!entry.allowed) this.counters.denied++;
    if (this.historyLimit === 0) return;
    this.historyRing.push(entry);
    if (this.historyRing.length > this.historyLimit) this.historyRing.shift();
  }

  /** True once the policy-given lifetime is over: the client must re-authenticate and reopen. */
  expired(now = Date.now()): boolean {
    return this.ttlSeconds !== undefined && now - this.createdAt >= this.ttlSeconds * 1000;
  }

  ageSeconds(now = Date.now()): number {
    return Math.floor((now - this.createdAt) / 1000);
  }
}

export function sessionPrincipal(identity: Identity): string {
  return `${identity.issuer}\u0000${identity.subject}`;
}
