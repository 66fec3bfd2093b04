// Approvals of a single gateway process (MemoryStore): plain Maps. Every method body is
// synchronous, so each operation is atomic by construction.
import type { Logger } from '../util/logger.js';
import {
  APPROVAL_RETAIN_MS,
  stateAt,
  type ApprovalLimits,
  type ApprovalRecord,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalStore,
  type CreateApprovalOutcome,
  type DecideApprovalOutcome,
  type UseApprovalOutcome,
  type Verdict,
} from './approvals.js';

export class MemoryApprovals implements ApprovalStore {
  private readonly records = new Map<string, ApprovalRecord>();
  /** session id → binding → approval id. */
  private readonly bindings = new Map<string, Map<string, string>>();
  private readonly listeners: Array<(id: string, state: ApprovalState) => void> = [];

  constructor(private readonly logger?: Logger) {}

  create(request: ApprovalRequest, limits: ApprovalLimits): Promise<CreateApprovalOutcome> {
    const now = Date.now();
    this.sweep(now);
    let session = 0;
    let user = 0;
    for (const record of this.records.values()) {
      if (stateAt(record, now) !== 'pending') continue;
      if (record.sessionId === request.sessionId) session++;
      if (record.principal === request.principal) user++;
    }
    if (session >= limits.perSession) {
      return Promise.resolve({ kind: 'full', scope: 'session', limit: limits.perSession });
    }
    if (user >= limits.perUser) {
      return Promise.resolve({ kind: 'full', scope: 'user', limit: limits.perUser });
    }
    // The record as created: pending, whatever the request object carried.
    this.records.set(request.id, { ...structuredClone(request), state: 'pending' });
    let bySession = this.bindings.get(request.sessionId);
    if (!bySession) {
      this.bindings.set(request.sessionId, (bySession = new Map<string, string>()));
    }
    bySession.set(request.binding, request.id);
    return Promise.resolve({ kind: 'created' });
  }

  get(id: string): Promise<ApprovalRecord | undefined> {
    return Promise.resolve(this.current(id, Date.now()));
  }

  byBinding(sessionId: string, binding: string): Promise<ApprovalRecord | undefined> {
    const id = this.bindings.get(sessionId)?.get(binding);
    return Promise.resolve(id === undefined ? undefined : this.current(id, Date.now()));
  }

  decide(id: string, verdict: Verdict): Promise<DecideApprovalOutcome> {
    const now = Date.now();
    const record = this.records.get(id);
    if (!record) return Promise.resolve({ kind: 'gone' });
    if (stateAt(record, now) !== 'pending') {
      this.settle(record, now);
      return Promise.resolve({ kind: 'not_pending', record: structuredClone(record) });
    }
    record.state = verdict.state;
    record.decidedBy = verdict.by;
    record.decidedAt = now;
    record.comment = verdict.comment;
    this.tell(id, record.state);
    return Promise.resolve({ kind: 'decided', record: structuredClone(record) });
  }

  expire(id: string): Promise<ApprovalRecord | undefined> {
    const now = Date.now();
    const record = this.records.get(id);
    if (!record) return Promise.resolve(undefined);
    this.settle(record, now);
    return Promise.resolve(structuredClone(record));
  }

  use(id: string, binding: string): Promise<UseApprovalOutcome> {
    const now = Date.now();
    const record = this.records.get(id);
    if (!record) return Promise.resolve({ kind: 'gone' });
    if (record.binding !== binding) return Promise.resolve({ kind: 'mismatch' });
    // An approval is good until the request's own expiry, and for one call.
    if (record.state !== 'approved' || now >= record.expiresAt) {
      return Promise.resolve({ kind: 'not_approved', state: stateAt(record, now) });
    }
    record.state = 'used';
    return Promise.resolve({ kind: 'used' });
  }

  list(): Promise<ApprovalRecord[]> {
    const now = Date.now();
    this.sweep(now);
    const all = [...this.records.keys()].map((id) => this.current(id, now)!);
    all.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
    return Promise.resolve(all);
  }

  onSettled(listener: (id: string, state: ApprovalState) => void): void {
    this.listeners.push(listener);
  }

  /** A copy of the record as it stands now (a pending one past its expiry, expired). */
  private current(id: string, now: number): ApprovalRecord | undefined {
    const record = this.records.get(id);
    if (!record) return undefined;
    this.settle(record, now);
    return structuredClone(record);
  }

  /** Marks a pending record past its expiry as expired, and says so once. */
  private settle(record: ApprovalRecord, now: number): void {
    if (stateAt(record, now) === 'expired' && record.state === 'pending') {
      record.state = 'expired';
      this.tell(record.id, 'expired');
    }
  }

  private tell(id: string, state: ApprovalState): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(id, state);
      } catch (err) {
        this.logger?.error('approvals: an onSettled listener threw', {
          approval: id.slice(0, 9),
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  /** Forgets records kept past their retention. */
  private sweep(now: number): void {
    for (const [id, record] of this.records) {
      if (now < record.expiresAt + APPROVAL_RETAIN_MS) continue;
      this.records.delete(id);
      const bySession = this.bindings.get(record.sessionId);
      if (bySession?.get(record.binding) === id) bySession.delete(record.binding);
      if (bySession?.size === 0) this.bindings.delete(record.sessionId);
    }
  }
}
