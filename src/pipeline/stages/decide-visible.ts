// Stage: the policy decides what a list shows (mcp/authz/visible, one evaluation for the
// whole list), and at session/open which upstreams' instructions the session is shown. Any
// failure shows nothing, and says why in the gateway log.
import { decideVisible } from '../../policy/decide.js';
import type { PolicyHolder } from '../../policy/holder.js';
import type { Logger } from '../../util/logger.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import { SPAN } from '../../telemetry/span-names.js';

export function decideVisibleItems(policy: PolicyHolder, logger: Logger): Stage {
  return {
    name: 'decide (mcp/authz/visible)',
    span: SPAN.policyVisible,
    when: 'allowed',
    run(ctx: RequestContext) {
      if (!ctx.input) throw new Error('decide ran before the input was built');
      // No catalog, nothing to show (session/open when no upstream gave instructions): no
      // evaluation and no decision-log event.
      if (ctx.input.catalog === undefined) return undefined;
      const visible = decideVisible(policy.current(), ctx.input);
      if (visible.error !== undefined) {
        logger.error('visible decision failed; showing nothing', {
          action: ctx.action,
          error: visible.error,
        });
      }
      ctx.visible = visible;
      return undefined;
    },
  };
}
