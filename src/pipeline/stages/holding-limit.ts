// Stage: what a session holds in this process between requests (resource subscriptions,
// tasks) is bounded. A request that would take one more than the limit is denied before
// it is recorded, so the denial is in the history and the decision log with its reason.
import { denyWith, type Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export interface Holding {
  /** For `--explain`: what is counted. */
  readonly name: string;
  /**
   * How many the session holds now, when this request would take one more; undefined when
   * it takes none (a re-subscribe, a tools/call not run as a task).
   */
  held(ctx: RequestContext): number | undefined;
  readonly limit: number;
  /** The reason, given the limit: what the session holds and how to let one go. */
  reason(limit: number): string;
}

export function holdingLimit(holding: Holding): Stage {
  return {
    name: `limit on ${holding.name} per session`,
    when: 'allowed',
    run(ctx: RequestContext) {
      const held = holding.held(ctx);
      if (held === undefined || held < holding.limit) return undefined;
      return denyWith('holding_limit', holding.reason(holding.limit));
    },
  };
}
