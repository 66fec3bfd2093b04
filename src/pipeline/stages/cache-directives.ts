// Stage (the four lists, 2026-07-28 only): how long and by whom the client may cache the
// list. Every list is filtered for this caller by the policy, so it is `private` (a shared
// cache must never hand one user's list to another). The policy may show a different list
// after any call (rules that read the session's history) or after a policy or catalog
// change, and the stateless era has no list_changed outside subscriptions/listen, so the
// lifetime is short: a client re-reads a list at most every LIST_TTL_MS, and a call of
// something it still shows but may no longer use is decided (and denied) as any other.
import { eraOf } from '../../mcp/server/eras.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export const LIST_TTL_MS = 10_000;

export function cacheDirectives(): Stage {
  return {
    name: 'cache directives (2026-07-28)',
    when: 'allowed',
    run(ctx: RequestContext) {
      if (eraOf(ctx.protocolVersion) !== 'stateless') return undefined;
      const result = ctx.result;
      if (typeof result !== 'object' || result === null) return undefined;
      ctx.result = { ...result, ttlMs: LIST_TTL_MS, cacheScope: 'private' };
      return undefined;
    },
  };
}
