// Stage: the step_up obligation carried out. The call does not go on; the client is told to
// authenticate again, in HTTP as MCP's authorization spec and RFC 6750 say: with a scope,
// 403 and `error="insufficient_scope"` naming the scope the new token needs; without one,
// 401 and `error="insufficient_user_authentication"` (RFC 9470) with `max_age` when the
// policy asks for a recent authentication. Like the edge's 401s, the challenge names the
// protected resource metadata (RFC 9728 section 5.1), where the client finds which
// authorization server to go to. The JSON-RPC answer carries the decision too.
import { denyWith, type Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

/** A value as a quoted-string of an HTTP header (the policy's text has no quotes to keep). */
function quoted(value: string): string {
  return `"${value.replace(/["\\\r\n]/g, '')}"`;
}

export function stepUpWhenObliged(resourceMetadataUrl: () => string): Stage {
  return {
    name: 'step up when obliged (authenticate again)',
    when: 'allowed',
    run(ctx: RequestContext) {
      const stepUp = ctx.obligations.stepUp;
      if (stepUp === undefined) return undefined;
      const parts = [`resource_metadata=${quoted(resourceMetadataUrl())}`];
      if (stepUp.scope !== undefined) {
        parts.push(`error="insufficient_scope"`, `scope=${quoted(stepUp.scope)}`);
      } else parts.push(`error="insufficient_user_authentication"`);
      parts.push(`error_description=${quoted(stepUp.reason)}`);
      if (stepUp.max_age_s !== undefined) parts.push(`max_age=${quoted(String(stepUp.max_age_s))}`);
      return denyWith('step_up', `${stepUp.reason}; authenticate again (step-up)`, {
        stepUp: {
          status: stepUp.scope !== undefined ? 403 : 401,
          wwwAuthenticate: `Bearer ${parts.join(', ')}`,
        },
      });
    },
  };
}
