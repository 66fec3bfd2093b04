// The admin API for operators: list sessions, show one, kill one (everywhere, with Redis on
// every replica). Every request is authenticated like /mcp and decided by the policy
// (actions admin/sessions/list|show|kill); the decision is logged like any other.
import { Router, type Request, type Response } from 'express';
import { callerOf, expressAuth, type Authenticate } from './guards/bearer-auth.js';
import { policySummary } from '../policy/input.js';
import type { Pipeline } from '../pipeline/chains.js';
import {
  StoreUnavailableError,
  type ListedSession,
  type SessionRecord,
  type SessionStore,
} from '../sessions/store.js';
import type { SessionManager } from './live-sessions.js';
import type { Logger } from '../util/logger.js';

export type AdminOperation = 'list' | 'show' | 'kill';

export interface AdminDeps {
  authenticate: Authenticate;
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
    if (unrecorded !== undefined) {
      res
        .status(503)
        .set('Retry-After', '2')
        .json({ error: 'decision_log_unavailable', message: unrecorded });
      return false;
    }
    if (decision.allow) return true;
    res
      .status(403)
      .json({ error: 'forbidden', reasons: decision.reasons, decision_id: decisionId });
    return false;
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
