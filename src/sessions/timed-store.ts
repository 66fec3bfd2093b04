// A session store that reports the duration and failure of every operation of the store it
// wraps (mcpgate_session_store_duration_seconds and _errors_total). The gateway wraps its
// store in this only when metrics are on; otherwise nothing reads a clock. The approvals
// the store keeps are passed through untimed (a person's pace, not a request's).
import type { ReplicaRelay } from '../mcp/server/held-calls.js';
import type { ApprovalStore } from './approvals.js';
import type { HistoryEntry } from './session.js';
import type {
  CreateOutcome,
  ListedSession,
  LoadedSession,
  RateLimitRule,
  RecordOptions,
  RecordOutcome,
  SessionEnd,
  SessionRecord,
  SessionStore,
  SessionUse,
  StoreHealth,
} from './store.js';

export type StoreOperation =
  | 'create'
  | 'load'
  | 'record'
  | 'record_findings'
  | 'terminate'
  | 'list'
  | 'note_end'
  | 'end_of'
  | 'claim_once';

/** Receives one finished operation: its duration in seconds, and whether it failed. */
export type StoreObserver = (operation: StoreOperation, seconds: number, failed: boolean) => void;

export class TimedStore implements SessionStore {
  constructor(
    private readonly inner: SessionStore,
    private readonly observe: StoreObserver,
  ) {}

  get approvals(): ApprovalStore {
    return this.inner.approvals;
  }

  get relay(): ReplicaRelay | undefined {
    return this.inner.relay;
  }

  private async timed<T>(operation: StoreOperation, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const value = await run();
      this.observe(operation, (performance.now() - started) / 1000, false);
      return value;
    } catch (err) {
      this.observe(operation, (performance.now() - started) / 1000, true);
      throw err;
    }
  }

  create(record: SessionRecord, idleMs: number, maxPerPrincipal?: number): Promise<CreateOutcome> {
    return this.timed('create', () => this.inner.create(record, idleMs, maxPerPrincipal));
  }

  load(
    id: string,
    historyLimit: number,
    rateRules: RateLimitRule[],
    use?: SessionUse,
  ): Promise<LoadedSession | undefined> {
    return this.timed('load', () => this.inner.load(id, historyLimit, rateRules, use));
  }

  recordCall(id: string, entry: HistoryEntry, options: RecordOptions): Promise<RecordOutcome> {
    return this.timed('record', () => this.inner.recordCall(id, entry, options));
  }

  recordFindings(
    id: string,
    labels: readonly string[],
    counts: Readonly<Record<string, number>>,
    sketches?: Readonly<Record<string, Uint8Array>>,
  ): Promise<boolean> {
    return this.timed('record_findings', () =>
      this.inner.recordFindings(id, labels, counts, sketches),
    );
  }

  terminate(id: string, reason: string): Promise<boolean> {
    return this.timed('terminate', () => this.inner.terminate(id, reason));
  }

  noteEnd(id: string, end: SessionEnd, keepUntil: number): Promise<void> {
    return this.timed('note_end', () => this.inner.noteEnd(id, end, keepUntil));
  }

  endOf(id: string): Promise<SessionEnd | undefined> {
    return this.timed('end_of', () => this.inner.endOf(id));
  }

  claimOnce(token: string, keepUntil: number): Promise<boolean> {
    return this.timed('claim_once', () => this.inner.claimOnce(token, keepUntil));
  }

  onTerminated(listener: (id: string, reason: string) => void): void {
    this.inner.onTerminated(listener);
  }

  list(): Promise<ListedSession[]> {
    return this.timed('list', () => this.inner.list());
  }

  health(): StoreHealth {
    return this.inner.health();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
