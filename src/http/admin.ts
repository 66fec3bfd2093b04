// The admin API for operators: list sessions, show one, kill one (everywhere, with Redis on
// every replica), the approvals queue, and the live catalog's tool trust (read-only). Every
// request is authenticated like /mcp and decided by the policy (actions
// admin/sessions/list|show|kill, admin/approvals/*, admin/tools/list); the decision is logged
// like any other.
import express, { Router, type Request, type Response } from 'express';
import { callerOf, expressAuth, type Authenticate } from './guards/bearer-auth.js';
import { policySummary } from '../policy/input.js';
import { approvalFacts } from '../pipeline/approval-desk.js';
import type { Pipeline } from '../pipeline/chains.js';
import type { Decision } from '../policy/decision.js';
import { buildApprovalsInput, buildOperatorInput } from '../policy/input.js';
import { APPROVAL_ID, stateAt, type ApprovalRecord } from '../sessions/approvals.js';
import {
  StoreUnavailableError,
  type ListedSession,
  type SessionRecord,
  type SessionStore,
} from '../sessions/store.js';
import type { SessionManager } from './live-sessions.js';
import { countItems, itemJson, parseToolTrustFilter, selectItems } from './tool-trust.js';
import type { Logger } from '../util/logger.js';

export type AdminOperation = 'list' | 'show' | 'kill';

export interface AdminDeps {
  authenticate: Authenticate;
  gateway: { id: string; version: string };
  pipeline: Pipeline;
  store: SessionStore;
  sessions: SessionManager;
  historyLimit: number;
  logger: Logger;
}

/** What an operator sees of a session: never tokens (the store holds none). */
function view(record: SessionRecord): Record<string, unknown> {
  return {
    id: record.id,
    subject: record.subject,
    issuer: record.principal.split('\u0000')[0],
    purpose: record.purpose,
    created_at: new Date(record.createdAt).toISOString(),
    expires_at: record.expiresAt === null ? null : new Date(record.expiresAt).toISOString(),
    client: record.clientInfo,
  };
}

/** A listed session: its view, when it was last used and how long it has been idle. */
function listedView(session: ListedSession, now: number): Record<string, unknown> {
  return {
    ...view(session),
    last_used_at: new Date(session.lastUsedAt).toISOString(),
    idle_s: Math.max(0, Math.floor((now - session.lastUsedAt) / 1000)),
  };
}

/** What an approver sees of an approval (the admin API and the console). */
export function approvalView(
  record: ApprovalRecord,
  now: number,
  pipeline: Pipeline,
): Record<string, unknown> {
  const facts = approvalFacts(record, 'none');
  return {
    id: record.id,
    state: stateAt(record, now),
    url: pipeline.approvals.link(record.id),
    tool: record.tool.id,
    exposed_name: record.tool.exposed,
    arguments: record.arguments,
    args_digest: record.argsDigest,
    definition_hash: record.definitionHash,
    requester: facts.requester,
    session_id: record.sessionId,
    purpose: record.purpose,
    reason: record.reason,
    approvers: record.approvers,
    self: record.self,
    risk: record.risk,
    decision_id: record.decisionId,
    created_at: new Date(record.createdAt).toISOString(),
    expires_at: new Date(record.expiresAt).toISOString(),
    ...(record.decidedBy === undefined
      ? {}
      : {
          decided_by: record.decidedBy.slice(record.decidedBy.indexOf('\u0000') + 1),
          decided_at: new Date(record.decidedAt ?? 0).toISOString(),
          comment: record.comment ?? '',
        }),
  };
}

/**
 * Whether an admin decision lets the request go on; when it does not, the refusal is
 * answered: 403 with the policy's reasons, or 503 when the decision could not be recorded.
 */
function answered(
  res: Response,
  decision: Decision,
  decisionId: string,
  unrecorded: string | undefined,
): boolean {
  if (unrecorded !== undefined) {
    res
      .status(503)
      .set('Retry-After', '2')
      .json({ error: 'decision_log_unavailable', message: unrecorded });
    return false;
  }
  if (decision.allow) return true;
  res.status(403).json({ error: 'forbidden', reasons: decision.reasons, decision_id: decisionId });
  return false;
}

export function adminRouter(deps: AdminDeps): Router {
  const router = Router();
  const auth = expressAuth(deps.authenticate);

  /**
   * Asks the policy; answers 403 with its reasons when denied, 503 when the decision could
   * not be recorded.
   */
  const permitted = async (
    res: Response,
    operation: AdminOperation,
    sessionId?: string,
  ): Promise<boolean> => {
    const caller = callerOf(res);
    const { decision, decisionId, unrecorded } = await deps.pipeline.decideAdmin({
      identity: caller.identity,
      operation,
      sessionId,
      remoteAddress: caller.remoteAddress,
    });
    return answered(res, decision, decisionId, unrecorded);
  };

  const storeDown = (res: Response, err: unknown): void => {
    if (!(err instanceof StoreUnavailableError)) throw err;
    res.status(503).json({ error: 'store_unavailable', message: err.message });
  };

  router.get('/admin/sessions', auth, async (_req: Request, res) => {
    if (!(await permitted(res, 'list'))) return;
    try {
      const records = await deps.store.list();
      const now = Date.now();
      res.json({ sessions: records.map((session) => listedView(session, now)) });
    } catch (err) {
      storeDown(res, err);
    }
  });

  router.get('/admin/sessions/:id', auth, async (req: Request, res) => {
    const id = String(req.params.id);
    if (!(await permitted(res, 'show', id))) return;
    try {
      const loaded = await deps.store.load(id, deps.historyLimit, []);
      if (!loaded) {
        res.status(404).json({ error: 'not_found', message: `no session ${id}` });
        return;
      }
      // History and summary as the policy sees them (input.session), counters too.
      res.json({
        ...view(loaded.record),
        counters: { ...loaded.counters, untracked: loaded.summary?.untracked ?? 0 },
        summary: policySummary(loaded.summary),
        history: loaded.history,
      });
    } catch (err) {
      storeDown(res, err);
    }
  });

  const approvalsDecided = async (
    res: Response,
    operation: 'list' | 'show',
    record?: ApprovalRecord,
  ): Promise<boolean> => {
    const caller = callerOf(res);
    const input = buildApprovalsInput(
      operation,
      caller.identity,
      deps.gateway,
      record === undefined ? undefined : approvalFacts(record, 'none'),
    );
    const { decision, decisionId, unrecorded } = await deps.pipeline.decideAdminInput(
      input,
      caller.remoteAddress,
      record?.decisionId,
    );
    return answered(res, decision, decisionId, unrecorded);
  };

  /** An approval by id; a malformed or unknown id is the same 404 (ids are unguessable). */
  const findApproval = async (req: Request, res: Response): Promise<ApprovalRecord | undefined> => {
    const id = String(req.params.id);
    const record = APPROVAL_ID.test(id) ? await deps.pipeline.approvals.read({ id }) : undefined;
    if (!record) res.status(404).json({ error: 'not_found', message: `no approval ${id}` });
    return record;
  };

  router.get('/admin/approvals', auth, async (_req: Request, res) => {
    try {
      if (!(await approvalsDecided(res, 'list'))) return;
      const now = Date.now();
      const records = await deps.pipeline.approvals.list();
      res.json({ approvals: records.map((r) => approvalView(r, now, deps.pipeline)) });
    } catch (err) {
      storeDown(res, err);
    }
  });

  router.get('/admin/approvals/:id', auth, async (req: Request, res) => {
    try {
      const record = await findApproval(req, res);
      if (!record || !(await approvalsDecided(res, 'show', record))) return;
      res.json(approvalView(record, Date.now(), deps.pipeline));
    } catch (err) {
      storeDown(res, err);
    }
  });

  router.post(
    '/admin/approvals/:id',
    auth,
    express.json({ limit: '16kb' }),
    async (req: Request, res) => {
      const body = (req.body ?? {}) as { verdict?: unknown; comment?: unknown };
      if (body.verdict !== 'approve' && body.verdict !== 'deny') {
        res.status(400).json({
          error: 'bad_request',
          message: 'the body must be {"verdict": "approve" | "deny", "comment": "..."}',
        });
        return;
      }
      if (
        body.comment !== undefined &&
        (typeof body.comment !== 'string' || body.comment.length > 1000)
      ) {
        res.status(400).json({
          error: 'bad_request',
          message: 'comment must be a string of at most 1000 characters',
        });
        return;
      }
      const id = String(req.params.id);
      if (!APPROVAL_ID.test(id)) {
        res.status(404).json({ error: 'not_found', message: `no approval ${id}` });
        return;
      }
      const caller = callerOf(res);
      try {
        const outcome = await deps.pipeline.approvals.decide({
          identity: caller.identity,
          remoteAddress: caller.remoteAddress,
          id,
          verdict: body.verdict,
          comment: typeof body.comment === 'string' ? body.comment : '',
        });
        switch (outcome.kind) {
          case 'not_found':
            res.status(404).json({ error: 'not_found', message: `no approval ${id}` });
            return;
          case 'unrecorded':
            res
              .status(503)
              .set('Retry-After', '2')
              .json({ error: 'decision_log_unavailable', message: outcome.reason });
            return;
          case 'forbidden':
            res.status(403).json({
              error: 'forbidden',
              reasons: outcome.reasons,
              decision_id: outcome.decisionId,
            });
            return;
          case 'not_pending':
            res.status(409).json({
              error: 'not_pending',
              message: `approval ${id} is ${stateAt(outcome.record, Date.now())}; nothing was changed`,
              state: stateAt(outcome.record, Date.now()),
            });
            return;
          case 'decided':
            res.json({
              id,
              state: outcome.record.state,
              decision_id: outcome.decisionId,
            });
        }
      } catch (err) {
        storeDown(res, err);
      }
    },
  );

  // Read-only: pinning is a reviewed change to the signed policy (mcpgate tools pin).
  router.get('/admin/tools', auth, async (req: Request, res) => {
    const parsed = parseToolTrustFilter(req.query);
    if ('error' in parsed) {
      res.status(400).json({ error: 'bad_request', message: parsed.error });
      return;
    }
    const caller = callerOf(res);
    const input = buildOperatorInput('admin/tools/list', caller.identity, deps.gateway, {});
    const { decision, decisionId, unrecorded } = await deps.pipeline.decideAdminInput(
      input,
      caller.remoteAddress,
      undefined,
    );
    if (!answered(res, decision, decisionId, unrecorded)) return;
    const { revision, items } = deps.pipeline.toolTrust();
    res.json({
      policy_revision: revision ?? null,
      counts: countItems(items),
      items: selectItems(items, parsed.filter).map(itemJson),
    });
  });

  router.delete('/admin/sessions/:id', auth, async (req: Request, res) => {
    const id = String(req.params.id);
    if (!(await permitted(res, 'kill', id))) return;
    try {
      const existed = await deps.store.terminate(id, 'killed by an administrator');
      await deps.sessions.endLocal(id, 'killed by an administrator');
      deps.logger.info('session killed by an administrator', {
        session: id.slice(0, 8),
        by: callerOf(res).identity.subject,
      });
      if (!existed) {
        res.status(404).json({ error: 'not_found', message: `no session ${id}` });
        return;
      }
      res.json({ killed: id });
    } catch (err) {
      storeDown(res, err);
    }
  });

  return router;
}
