// Stage (tasks/result): the policy input of the tools/call that created the task, with the
// session and the request time as they are now, and that call's decision id. The result
// stages then treat the task's result as they treat a direct call's: inspected, decided
// (tools/result, the call's argument findings included) and logged with the call's decision
// as its parent, its findings and labels recorded in the session. The task itself is not
// decided again: that call's decision covers it.
import { buildInput } from '../../policy/input.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import type { GatewayFacts } from './build-input.js';

export function taskCallInput(gateway: GatewayFacts): Stage {
  return {
    name: "the creating call's input, for the result decision",
    when: 'allowed',
    run(ctx: RequestContext) {
      const call = ctx.task?.call;
      if (call === undefined) throw new Error('task call input ran without a task');
      const now = buildInput(
        'tools/call',
        {
          identity: ctx.identity,
          session: ctx.session,
          protocolVersion: ctx.protocolVersion,
          gateway,
        },
        undefined,
        ctx.now,
      );
      ctx.input = { ...call.input, session: now.session, request: now.request };
      ctx.decisionId = call.decisionId;
      return undefined;
    },
  };
}
