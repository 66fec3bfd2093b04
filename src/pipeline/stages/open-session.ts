// Stage (session/open): an allowed session is created in the store, with the lifetime the
// policy gave (obligation session_ttl_s). A store that cannot be reached denies the open
// (fail closed) and asks the client to retry.
import { StoreUnavailableError, type SessionStore } from '../../sessions/store.js';
import { denyWith, type Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function openSession(store: SessionStore, idleTimeoutMs: number): Stage {
  return {
    name: 'create the session',
    when: 'allowed',
    async run(ctx: RequestContext) {
      const { record } = ctx.session;
      const ttlS = ctx.obligations.sessionTtlS;
      if (ttlS !== undefined) record.expiresAt = record.createdAt + ttlS * 1000;
      try {
        await store.create(record, idleTimeoutMs);
        return undefined;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        return denyWith(`${err.message}; the session was not opened (fail closed)`, {
          unavailable: err,
        });
      }
    },
  };
}
