// Approvals waiting for a person, kept in the session store beside the sessions (memory for
// one process, Redis for several replicas), so that an approval given on any replica
// releases the call held on another. An approval is bound to one exact call: the session,
// the principal, the tool, the tool's definition hash and the digest of the canonical
// arguments (the binding). It is used once, and it expires.
import { randomBytes } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

/** What is asked: the call as it was decided, and what the policy said about it. */
export interface ApprovalRequest {
  /** `a` and 32 random bytes (base64url): unguessable, so an id is no way in. */
  id: string;
  sessionId: string;
  /** issuer + NUL + subject of the caller (who asked). */
  principal: string;
  subject: string;
  purpose: string;
  tool: { id: string; server: string; name: string; exposed: string };
  definitionHash: string;
  /** sha256 (hex) of the canonical JSON arguments. */
  argsDigest: string;
  /** The canonical JSON arguments, shown to the approver (at most approvals.max_argument_bytes). */
  arguments: string;
  /** The tools/call decision that required the approval (parent of every approval event). */
  decisionId: string;
  reason: string;
  approvers: { roles: string[]; groups: string[] };
  self: boolean;
  createdAt: number;
  expiresAt: number;
  /** sha256 over session, principal, tool, definition hash and argument digest. */
  binding: string;
  /** Facts an approver weighs: the session's call counts and the policy input's findings. */
  risk: { calls: number; denied: number; findings: unknown[] };
}

export interface ApprovalRecord extends ApprovalRequest {
  state: ApprovalState;
  /** Who approved or denied it (issuer + NUL + subject), when, and why. */
  decidedBy?: string;
  decidedAt?: number;
  comment?: string;
}

export type CreateApprovalOutcome =
  | { kind: 'created' }
  /** The session, or the user over all their sessions, has `limit` approvals pending already. */
  | { kind: 'full'; scope: 'session' | 'user'; limit: number };

export type DecideApprovalOutcome =
  | { kind: 'decided'; record: ApprovalRecord }
  /** Decided, expired or used before: nothing changed. */
  | { kind: 'not_pending'; record: ApprovalRecord }
  | { kind: 'gone' };

export type UseApprovalOutcome =
  | { kind: 'used' }
  /** Another call than the one approved (other arguments, session, tool definition...). */
  | { kind: 'mismatch' }
  | { kind: 'not_approved'; state: ApprovalState }
  | { kind: 'gone' };

export interface Verdict {
  state: 'approved' | 'denied';
  /** issuer + NUL + subject of the person who decided. */
  by: string;
  comment: string;
}

export interface ApprovalLimits {
  perSession: number;
  perUser: number;
}

/** Decided approvals stay readable this long after they expire (the console shows them). */
export const APPROVAL_RETAIN_MS = 60 * 60 * 1000;

export interface ApprovalStore {
  /** Stores a pending approval, unless its session or its user has `limits` pending already. */
  create(request: ApprovalRequest, limits: ApprovalLimits): Promise<CreateApprovalOutcome>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** The latest approval of this exact call in the session (a retry finds it), if any. */
  byBinding(sessionId: string, binding: string): Promise<ApprovalRecord | undefined>;
  /** Approves or denies a pending approval, atomically, and tells every replica. */
  decide(id: string, verdict: Verdict): Promise<DecideApprovalOutcome>;
  /** A pending approval whose time is over becomes expired (and every replica hears it). */
  expire(id: string): Promise<ApprovalRecord | undefined>;
  /** Uses an approved approval for the call with this binding, once. */
  use(id: string, binding: string): Promise<UseApprovalOutcome>;
  /** Every approval still kept, newest first. */
  list(): Promise<ApprovalRecord[]>;
  /** Called on every replica when any replica decides or expires an approval. */
  onSettled(listener: (id: string, state: ApprovalState) => void): void;
}

export function newApprovalId(): string {
  return `a${randomBytes(32).toString('base64url')}`;
}

/** What an approval id looks like; anything else is refused before the store is asked. */
export const APPROVAL_ID = /^a[A-Za-z0-9_-]{43}$/;

/** The binding of one exact call. */
export function approvalBinding(call: {
  sessionId: string;
  principal: string;
  toolId: string;
  definitionHash: string;
  argsDigest: string;
}): string {
  return sha256Hex(
    canonicalJson({
      a: call.argsDigest,
      d: call.definitionHash,
      p: call.principal,
      s: call.sessionId,
      t: call.toolId,
    }),
  );
}

/** The state a record is in now: a pending one past its expiry is expired. */
export function stateAt(record: ApprovalRecord, now: number): ApprovalState {
  return record.state === 'pending' && now >= record.expiresAt ? 'expired' : record.state;
}
