// Stage: the behaviour signals of a decided call (input.behaviour): call rates and their
// ratio to the purpose's baseline, sequence novelty, tool-set drift, the session's age
// against the baseline's p95 duration, denials so far, repeats of this very call, and how
// much of the string arguments came from labelled results. Worked out from the session as
// loaded (no store round trip); what the call adds to the state is recorded with the call
// (stages/record.ts), in the same store operation.
import { behaviourOf } from '../../policy/behaviour.js';
import type { PolicyHolder } from '../../policy/holder.js';
import { NO_BASELINES } from '../../policy/behaviour.js';
import { ARGS_DIGEST_HEX } from '../../sessions/session.js';
import { canonicalJson, sha256Hex } from '../../util/canonical-json.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

/** The call's HistoryEntry.args_digest, worked out once per request. */
export function argsDigestOf(ctx: RequestContext): string {
  ctx.argsDigest ??= sha256Hex(canonicalJson(ctx.args)).slice(0, ARGS_DIGEST_HEX);
  return ctx.argsDigest;
}

export function behaviourSignals(policy: PolicyHolder): Stage {
  return {
    name: 'behaviour signals',
    when: 'allowed',
    run(ctx: RequestContext) {
      const { target, input } = ctx;
      if (!target || !input) return undefined;
      const { facts, update } = behaviourOf(
        ctx.session,
        { action: ctx.action, target: target.id, argsDigest: argsDigestOf(ctx), args: ctx.args },
        policy.current()?.baselines ?? NO_BASELINES,
        ctx.now,
      );
      input.behaviour = facts;
      ctx.behaviourUpdate = update;
      return undefined;
    },
  };
}
