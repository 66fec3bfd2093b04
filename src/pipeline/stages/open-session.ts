// Stage (session/open): an allowed session is created in the store, with the lifetime the
// policy gave (obligation session_ttl_s), if its user has fewer sessions open than
// sessions.max_sessions_per_principal (counted by the store, across replicas). A user at
// that cap, or a store that cannot be reached, denies the open; the decision log records
// the deny with its reason.
import type { SessionsConfig } from '../../config/sessions.js';
import { StoreUnavailableError, type SessionStore } from '../../sessions/store.js';
import { denyWith, type Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import { SPAN } from '../../telemetry/span-names.js';

export type SessionOpenLimits = Pick<SessionsConfig, 'idleTimeoutMs' | 'maxSessionsPerPrincipal'>;

export function openSession(store: SessionStore, limits: SessionOpenLimits): Stage {
  const { idleTimeoutMs, maxSessionsPerPrincipal } = limits;
  const idleS = Math.round(idleTimeoutMs / 1000);
  return {
    name: 'create the session',
    span: SPAN.sessionCreate,
    when: 'allowed',
    async run(ctx: RequestContext) {
      const { record } = ctx.session;
      const ttlS = ctx.obligations.sessionTtlS;
      if (ttlS !== undefined) record.expiresAt = record.createdAt + ttlS * 1000;
      try {
        const created = await store.create(record, idleTimeoutMs, maxSessionsPerPrincipal);
        if (created.kind === 'created') return undefined;
        return denyWith(
          'session_limit',
          `session limit per user reached: you have ${created.open} sessions open and may have ${created.limit} (sessions.max_sessions_per_principal); close one (HTTP DELETE with its Mcp-Session-Id) or wait until an unused one ends (after ${idleS} s idle)`,
          { principalFull: true },
        );
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        return denyWith(
          'store_unavailable',
          `${err.message}; the session was not opened (fail closed)`,
          {
            unavailable: err,
          },
        );
      }
    },
  };
}
