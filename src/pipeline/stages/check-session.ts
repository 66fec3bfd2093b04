// Stage (what an upstream asks of a client): the session the question is for is loaded again
// from the store, one round trip, before anything is decided. The upstream may ask long
// after the client's request began, or with no request at all: a session that has ended
// since (expired, terminated, on any replica) is refused, and the policy sees the session
// as it is now. Nothing was decided, so a refusal here is a JSON-RPC error to the upstream,
// not a denial, and has no decision-log line.
import type { SessionsConfig } from '../../config/sessions.js';
import { rateRules } from '../../sessions/rate-rules.js';
import { INTERNAL_ERROR, INVALID_REQUEST } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import { StoreUnavailableError, type SessionStore } from '../../sessions/store.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export type SessionLoadLimits = Pick<
  SessionsConfig,
  'historyLimit' | 'idleTimeoutMs' | 'rateLimits'
>;

export function checkSessionOpen(store: SessionStore, limits: SessionLoadLimits): Stage {
  return {
    name: 'the session is still open',
    when: 'allowed',
    async run(ctx: RequestContext) {
      const { id, principal } = ctx.session.record;
      try {
        const loaded = await store.load(
          id,
          limits.historyLimit,
          rateRules(limits.rateLimits, { id, principal }),
          { principal, idleMs: limits.idleTimeoutMs },
        );
        if (!loaded || loaded.record.principal !== principal) {
          throw new RpcError(
            INVALID_REQUEST,
            `the session this ${ctx.action} is for has ended (expired or terminated); its client can no longer be asked`,
          );
        }
        ctx.session = loaded;
        return undefined;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        throw new RpcError(INTERNAL_ERROR, `${err.message}; refused (fail closed)`);
      }
    },
  };
}
