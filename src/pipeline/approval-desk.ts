// The approvals desk: everything about carrying out require_approval that the held call
// (stages/approval.ts), the admin API and the console share. It opens an approval bound to
// the exact call, tells the webhooks, waits for a verdict (heard from any replica through
// the session store), asks the policy whether a person may approve (admin/approvals/decide,
// four eyes), uses an approval once, and writes every step to the decision log linked to
// the call's decision (parent_decision_id).
import type { DecisionLog } from '../audit/decision-log.js';
import type { ApprovalsConfig } from '../config/approvals.js';
import { postWebhook, slackEscape } from './webhooks.js';
import type { Identity } from '../identity/identity.js';
import type { Decision } from '../policy/decision.js';
import { buildApprovalsInput, type ApprovalFacts, type PolicyInput } from '../policy/input.js';
import type { ApprovalObligation } from '../policy/obligations.js';
import {
  approvalBinding,
  newApprovalId,
  type ApprovalRecord,
  type ApprovalState,
  type ApprovalStore,
  type UseApprovalOutcome,
} from '../sessions/approvals.js';
import type { Cancellation } from '../util/cancellation.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import type { Logger } from '../util/logger.js';
import type { RequestContext } from './context.js';

/** Decides an admin action's input and logs it (Pipeline.decideAdminInput). */
export type AdminDecider = (
  input: PolicyInput,
  remoteAddress: string | undefined,
  parentDecisionId: string | undefined,
) => Promise<{ decision: Decision; decisionId: string; unrecorded?: string }>;

export interface ApprovalDeskDeps {
  approvals: ApprovalStore;
  config: ApprovalsConfig;
  decisionLog: DecisionLog;
  decideAdmin: AdminDecider;
  gateway: { id: string; version: string };
  /** The console's base URL (`<gateway URL>/console` unless configured); known once listening. */
  consoleUrl: () => string;
  logger: Logger;
}

/** The path of the gateway's own approval events in the decision log. */
export const APPROVAL_EVENT_PATH = 'mcpgate/approval';

export type OpenedApproval = { record: ApprovalRecord; created: boolean } | { refused: string };

/** How a wait ended: a verdict, the approval's time over here, or the client gone. */
export type WaitOutcome = ApprovalState | 'timeout' | 'cancelled';

export type DecideOutcome =
  | { kind: 'decided'; record: ApprovalRecord; decisionId: string }
  | { kind: 'forbidden'; reasons: string[]; decisionId: string }
  | { kind: 'not_pending'; record: ApprovalRecord }
  | { kind: 'not_found' }
  | { kind: 'unrecorded'; reason: string };

/** What the policy sees of an approval (input.admin.approval). */
export function approvalFacts(
  record: ApprovalRecord,
  verdict: ApprovalFacts['verdict'],
): ApprovalFacts {
  return { id: record.id, ...callFacts(record, verdict) };
}

/** The facts of a call that needs approval, with or without an approval opened for it. */
function callFacts(
  call: Pick<
    ApprovalRecord,
    'principal' | 'sessionId' | 'purpose' | 'reason' | 'approvers' | 'self'
  > & {
    tool: Pick<ApprovalRecord['tool'], 'id'>;
  },
  verdict: ApprovalFacts['verdict'],
): Omit<ApprovalFacts, 'id'> {
  const cut = call.principal.indexOf('\u0000');
  return {
    verdict,
    requester: { issuer: call.principal.slice(0, cut), subject: call.principal.slice(cut + 1) },
    session_id: call.sessionId,
    purpose: call.purpose,
    tool: call.tool.id,
    reason: call.reason,
    approvers: call.approvers,
    self: call.self,
  };
}

/** issuer + NUL + subject: how the store names a person. */
export function personOf(identity: Identity): string {
  return `${identity.issuer}\u0000${identity.subject}`;
}

/** The subject part of a stored person, for messages. */
export function subjectOf(person: string | undefined): string {
  if (person === undefined) return 'someone';
  return person.slice(person.indexOf('\u0000') + 1);
}

export class ApprovalDesk {
  /** Held calls in this process, by approval id: told when the approval settles. */
  private readonly waiters = new Map<string, Set<(state: ApprovalState) => void>>();
  /**
   * Approvals settled by this process, for metrics: a verdict counts on the replica where
   * the person decided, an expiry on the one that held the call, so a fleet counts each once.
   */
  readonly settled = { approved: 0, denied: 0, expired: 0 };

  /** Calls held in this process waiting for a person's verdict. */
  get heldCalls(): number {
    let held = 0;
    for (const waiters of this.waiters.values()) held += waiters.size;
    return held;
  }

  constructor(private readonly deps: ApprovalDeskDeps) {
    deps.approvals.onSettled((id, state) => {
      for (const waiter of [...(this.waiters.get(id) ?? [])]) waiter(state);
    });
  }

  get config(): ApprovalsConfig {
    return this.deps.config;
  }

  /** Where a person approves or denies this approval. */
  link(id: string): string {
    return `${this.deps.consoleUrl()}/approvals/${id}`;
  }

  /**
   * The approval of this exact call: the one a retry of it finds (pending, approved or
   * denied and not expired), or a new pending one. Refused when the arguments are too large
   * to show, or the session or user has too many pending; a StoreUnavailableError when the
   * store cannot be reached (the stage denies it as every store failure, fail closed).
   */
  async open(ctx: RequestContext, obligation: ApprovalObligation): Promise<OpenedApproval> {
    const { target } = ctx;
    if (target?.kind !== 'tool') throw new Error('an approval opened without a tool target');
    const args = canonicalJson(ctx.args);
    const bytes = Buffer.byteLength(args);
    if (bytes > this.deps.config.maxArgumentBytes) {
      return {
        refused: `this call needs approval, but its arguments (${bytes} bytes) are too large to show an approver (approvals.max_argument_bytes is ${this.deps.config.maxArgumentBytes}); denied`,
      };
    }
    const session = ctx.session.record;
    const argsDigest = sha256Hex(args);
    const definitionHash = target.entry.definitionHash;
    const binding = approvalBinding({
      sessionId: session.id,
      principal: session.principal,
      toolId: target.id,
      definitionHash,
      argsDigest,
    });
    const now = Date.now();
    const existing = await this.deps.approvals.byBinding(session.id, binding);
    if (existing && ['pending', 'approved', 'denied'].includes(existing.state)) {
      return { record: existing, created: false };
    }
    const timeoutMs = Math.min(
      (obligation.timeout_s ?? this.deps.config.defaultTimeoutMs / 1000) * 1000,
      this.deps.config.maxTimeoutMs,
    );
    const record: ApprovalRecord = {
      id: newApprovalId(),
      sessionId: session.id,
      principal: session.principal,
      subject: session.subject,
      purpose: session.purpose,
      tool: {
        id: target.id,
        server: target.server,
        name: target.name,
        exposed: target.entry.exposed.name,
      },
      definitionHash,
      argsDigest,
      arguments: args,
      decisionId: ctx.decisionId,
      reason: obligation.reason,
      approvers: obligation.approvers,
      self: obligation.self,
      createdAt: now,
      expiresAt: now + timeoutMs,
      binding,
      risk: {
        calls: ctx.session.counters.calls,
        denied: ctx.session.counters.denied,
        findings: ctx.input?.findings ?? [],
      },
      state: 'pending',
    };
    const created = await this.deps.approvals.create(record, {
      perSession: this.deps.config.maxPendingPerSession,
      perUser: this.deps.config.maxPendingPerUser,
    });
    if (created.kind === 'full') {
      return {
        refused:
          created.scope === 'session'
            ? `this call needs approval, but this session already has ${created.limit} approvals pending (approvals.max_pending_per_session); wait for them to be decided or to expire; denied`
            : `this call needs approval, but you already have ${created.limit} approvals pending (approvals.max_pending_per_user); wait for them to be decided or to expire; denied`,
      };
    }
    this.logEvent(record, 'requested', ctx.caller.remoteAddress, ctx.requestId);
    this.notifyWebhooks(record);
    return { record, created: true };
  }

  /**
   * Waits until the approval settles (on any replica), its time is over here, or the
   * client cancels. `onTick` runs every approvals.progress_interval_s; the store is read
   * then too, so a verdict whose announcement was missed is found all the same.
   */
  wait(
    record: ApprovalRecord,
    cancellation: Cancellation | undefined,
    onTick: (elapsedMs: number) => void,
  ): Promise<WaitOutcome> {
    return new Promise((resolve) => {
      const started = Date.now();
      let done = false;
      const waiters = this.waiters.get(record.id) ?? new Set();
      this.waiters.set(record.id, waiters);
      const finish = (outcome: WaitOutcome): void => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        clearInterval(ticker);
        waiters.delete(heard);
        if (waiters.size === 0) this.waiters.delete(record.id);
        cancellation?.offCancel(cancelled);
        resolve(outcome);
      };
      const heard = (state: ApprovalState): void => {
        if (state !== 'pending') finish(state);
      };
      const cancelled = (): void => finish('cancelled');
      const check = (): void => {
        this.deps.approvals.get(record.id).then(
          (now) => {
            if (now && now.state !== 'pending') finish(now.state);
          },
          () => undefined, // the store is down: the deadline still ends the wait
        );
      };
      waiters.add(heard);
      cancellation?.onCancel(cancelled);
      const deadline = setTimeout(() => finish('timeout'), Math.max(0, record.expiresAt - started));
      const ticker = setInterval(() => {
        onTick(Date.now() - started);
        check();
      }, this.deps.config.progressIntervalMs);
      // Settled between opening and waiting (another replica was quick): read once now.
      check();
      if (cancellation?.cancelled) finish('cancelled');
    });
  }

  /** The approval as it stands now (undefined when gone). */
  read(record: Pick<ApprovalRecord, 'id'>): Promise<ApprovalRecord | undefined> {
    return this.deps.approvals.get(record.id);
  }

  /** Every approval still kept, newest first. */
  list(): Promise<ApprovalRecord[]> {
    return this.deps.approvals.list();
  }

  /** The approval's time is over: expired in the store (unless decided just in time). */
  async expire(record: ApprovalRecord, remoteAddress: string | undefined): Promise<ApprovalState> {
    const now = await this.deps.approvals.expire(record.id);
    const state = now?.state ?? 'expired';
    if (state === 'expired') {
      this.settled.expired++;
      this.logEvent(record, 'expired', remoteAddress, undefined);
    }
    return state;
  }

  /** Uses an approved approval for the held (or retried) call, once; logged. */
  async use(
    record: ApprovalRecord,
    remoteAddress: string | undefined,
    reqId: string | number | undefined,
  ): Promise<UseApprovalOutcome> {
    const outcome = await this.deps.approvals.use(record.id, record.binding);
    if (outcome.kind === 'used') this.logEvent(record, 'used', remoteAddress, reqId);
    return outcome;
  }

  /**
   * A person approves or denies: the policy decides whether they may (four eyes, the
   * obligation's approvers), the decision is logged as a child of the call's decision, and
   * the store settles the approval for every replica.
   */
  async decide(request: {
    identity: Identity;
    remoteAddress: string | undefined;
    id: string;
    verdict: 'approve' | 'deny';
    comment: string;
  }): Promise<DecideOutcome> {
    const record = await this.deps.approvals.get(request.id);
    if (!record) return { kind: 'not_found' };
    const input = buildApprovalsInput(
      'decide',
      request.identity,
      this.deps.gateway,
      approvalFacts(record, request.verdict),
    );
    const { decision, decisionId, unrecorded } = await this.deps.decideAdmin(
      input,
      request.remoteAddress,
      record.decisionId,
    );
    if (unrecorded !== undefined) return { kind: 'unrecorded', reason: unrecorded };
    if (!decision.allow) return { kind: 'forbidden', reasons: decision.reasons, decisionId };
    const outcome = await this.deps.approvals.decide(request.id, {
      state: request.verdict === 'approve' ? 'approved' : 'denied',
      by: personOf(request.identity),
      comment: request.comment,
    });
    switch (outcome.kind) {
      case 'gone':
        return { kind: 'not_found' };
      case 'not_pending':
        return { kind: 'not_pending', record: outcome.record };
      case 'decided':
        this.settled[outcome.record.state === 'approved' ? 'approved' : 'denied']++;
        this.deps.logger.info('approval decided', {
          approval: record.id.slice(0, 9),
          state: outcome.record.state,
          by: request.identity.subject,
        });
        return { kind: 'decided', record: outcome.record, decisionId };
    }
  }

  /**
   * The gateway refused a call that needs approval (too large, too many pending, the store
   * unreachable, the tool changed, the client gone): the call's own line is an allow with
   * require_approval, so this event says that it did not run, and why. `record` is the
   * approval when one was opened.
   */
  logRefusal(
    ctx: RequestContext,
    obligation: ApprovalObligation,
    reason: string,
    record: ApprovalRecord | undefined,
  ): void {
    const session = ctx.session.record;
    const facts = record
      ? approvalFacts(record, 'none')
      : callFacts(
          {
            principal: session.principal,
            sessionId: session.id,
            purpose: session.purpose,
            tool: { id: ctx.target?.id ?? '' },
            reason: obligation.reason,
            approvers: obligation.approvers,
            self: obligation.self,
          },
          'none',
        );
    this.deps.decisionLog.write(
      {
        path: APPROVAL_EVENT_PATH,
        inputJson: JSON.stringify({ approval: facts }),
        result: { event: 'refused', reason, ...(record ? { approval_id: record.id } : {}) },
        revision: '',
        evalNs: 0,
        reqId: ctx.requestId,
        sessionId: session.id,
        requestedBy: ctx.caller.remoteAddress,
        parentDecisionId: ctx.decisionId,
      },
      undefined,
    );
  }

  /** The gateway's own steps (requested, expired, used) as decision-log events. */
  private logEvent(
    record: ApprovalRecord,
    event: 'requested' | 'expired' | 'used',
    remoteAddress: string | undefined,
    reqId: string | number | undefined,
  ): void {
    const facts = approvalFacts(record, 'none');
    this.deps.decisionLog.write(
      {
        path: APPROVAL_EVENT_PATH,
        inputJson: JSON.stringify({
          approval: {
            ...facts,
            definition_hash: record.definitionHash,
            args_digest: record.argsDigest,
            created_at: new Date(record.createdAt).toISOString(),
            expires_at: new Date(record.expiresAt).toISOString(),
          },
        }),
        result: { event, approval_id: record.id, url: this.link(record.id) },
        revision: '',
        evalNs: 0,
        reqId,
        sessionId: record.sessionId,
        requestedBy: remoteAddress,
        parentDecisionId: record.decisionId,
      },
      undefined,
    );
  }

  /** Tells every configured webhook of a new pending approval (in the background). */
  private notifyWebhooks(record: ApprovalRecord): void {
    for (const hook of this.deps.config.webhooks) {
      postWebhook(
        hook,
        hook.format === 'slack' ? this.slackMessage(record) : this.jsonEvent(record),
        'approvals.webhooks',
        (error) =>
          this.deps.logger.warn('approval webhook failed', {
            webhook: new URL(hook.url).origin,
            approval: record.id.slice(0, 9),
            error,
          }),
      );
    }
  }

  private jsonEvent(record: ApprovalRecord): Record<string, unknown> {
    const facts = approvalFacts(record, 'none');
    return {
      type: 'mcpgate.approval.requested',
      gateway: this.deps.gateway.id,
      approval: {
        id: record.id,
        url: this.link(record.id),
        tool: record.tool.id,
        requester: facts.requester,
        purpose: record.purpose,
        reason: record.reason,
        approvers: record.approvers,
        self: record.self,
        args_digest: record.argsDigest,
        decision_id: record.decisionId,
        created_at: new Date(record.createdAt).toISOString(),
        expires_at: new Date(record.expiresAt).toISOString(),
      },
    };
  }

  /** A Slack incoming-webhook message: plain text, with the link (no arguments). */
  private slackMessage(record: ApprovalRecord): Record<string, unknown> {
    const text =
      `Approval needed: ${record.tool.id} for ${record.subject} (purpose ${record.purpose}). ` +
      `${record.reason}. Review: ${this.link(record.id)} (expires ${new Date(record.expiresAt).toISOString()})`;
    return {
      text,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: slackEscape(text) } },
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              text: { type: 'plain_text', text: 'Review' },
              url: this.link(record.id),
            },
          ],
        },
      ],
    };
  }
}
