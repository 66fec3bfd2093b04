// Stage: the decision as finally taken (after credential, rate limit and store) goes to
// the decision log, in OPA's decision-log format, with the input exactly as the policy saw
// it. Runs for every decided request, allowed or denied; the entry's id goes back to the
// client with a denial, so a user can quote it.
//
// Nothing is served that is not recorded: when the decision log refuses the line (a
// destination is full, cannot be written, or is closed) the request is denied here, before
// any later stage serves it. With destinations that accept only written lines, every
// request waits here until its line is written, so no answer goes out before its line; an
// allowed one is denied if that write fails.
import type { DecisionLog, LoggedDecision } from '../../audit/decision-log.js';
import { DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT } from '../../policy/engine.js';
import { denyWith, type Stage, type StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';

export function auditDecision(decisionLog: DecisionLog): Stage {
  return {
    name: 'decision log',
    when: 'always',
    run(ctx: RequestContext) {
      const { evaluation, decision } = ctx;
      if (!evaluation || !decision) return undefined; // nothing was decided
      const logged = decisionLog.write(
        {
          credential: decision.allow ? ctx.credential?.facts : undefined,
          path: DECISION_ENTRYPOINT,
          inputJson: evaluation.inputJson,
          result: decision,
          revision: evaluation.revision,
          evalNs: evaluation.evalNs,
          reqId: ctx.requestId,
          sessionId: ctx.session.record.id,
          requestedBy: ctx.caller.remoteAddress,
          trace: ctx.trace?.ids(),
        },
        evaluation.engine,
      );
      ctx.decisionId = logged.decisionId;
      return recorded(logged, decision.allow);
    },
  };
}

export function auditVisible(decisionLog: DecisionLog): Stage {
  return {
    name: 'decision log',
    when: 'always',
    run(ctx: RequestContext) {
      const { visible } = ctx;
      if (!visible) return undefined;
      const logged = decisionLog.write(
        {
          path: VISIBLE_ENTRYPOINT,
          inputJson: visible.inputJson,
          result:
            visible.error !== undefined
              ? { visible: [], error: visible.error }
              : [...visible.ids].sort(),
          revision: visible.revision,
          evalNs: visible.evalNs,
          reqId: ctx.requestId,
          sessionId: ctx.session.record.id,
          requestedBy: ctx.caller.remoteAddress,
          trace: ctx.trace?.ids(),
        },
        visible.engine,
      );
      // At session/open the request's decision is the one logged before (its id stays).
      if (ctx.decisionId === '') ctx.decisionId = logged.decisionId;
      return recorded(logged, !ctx.denied);
    },
  };
}

/**
 * Continue once the line is accepted: at once when it was queued, after the write when the
 * destinations accept written lines only. A request to be served is denied when its write
 * fails; a denial is answered anyway (nothing is served; its line stays queued).
 */
export function recorded(
  logged: LoggedDecision,
  served: boolean,
): StageOutcome | Promise<StageOutcome> {
  if (logged.refused !== undefined) return unrecorded(logged.refused);
  if (logged.written === undefined) return undefined;
  return logged.written.then(
    () => undefined,
    (err: unknown) =>
      served ? unrecorded(err instanceof Error ? err.message : String(err)) : undefined,
  );
}

function unrecorded(reason: string): StageOutcome {
  return denyWith('decision_log_unavailable', `${reason}; the request was refused (fail closed)`, {
    unavailable: new Error(reason),
    unrecorded: true,
  });
}
