// Stage: the second decision of an allowed call, on what came back. The policy is asked
// mcp/authz/decision with the result action (tools/result, resources/result,
// prompts/result): the call's own input, its argument findings, and input.result with the
// output inspection's findings (masked) and facts; never the result itself. By default only
// a request with findings is decided again (guardrails.decide_results: always asks for
// every result). The obligations are carried out here: redact (finding ids or JSON pointers:
// the client gets the result with those parts replaced; one that cannot be carried out
// denies), label_session and terminate_session (later stages), require_approval (denied
// with that reason until approvals exist). A result that could not be inspected is denied
// without asking the policy, and the denial is logged the same way.
import { findingFact } from '../../inspect/finding.js';
import { redact, RedactionError } from '../../inspect/redact.js';
import { decide, refusedByGateway, type DecisionEvaluation } from '../../policy/decide.js';
import { deny } from '../../policy/decision.js';
import type { PolicyHolder } from '../../policy/holder.js';
import { buildResultInput, RESULT_ACTIONS, type SessionInput } from '../../policy/input.js';
import type { Logger } from '../../util/logger.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function decideResult(
  policy: PolicyHolder,
  logger: Logger,
  mode: 'with_findings' | 'always',
): Stage {
  return {
    name: 'decide on the result (tools/result, resources/result, prompts/result)',
    when: 'allowed',
    run(ctx: RequestContext) {
      const action = RESULT_ACTIONS[ctx.action];
      const inspection = ctx.resultInspection;
      if (action === undefined || !ctx.input || (!inspection && ctx.resultRefusal === undefined)) {
        return undefined;
      }
      const findings = inspection?.findings ?? [];
      if (
        mode === 'with_findings' &&
        ctx.resultRefusal === undefined &&
        findings.length === 0 &&
        ctx.input.findings.length === 0
      ) {
        return undefined;
      }
      const input = buildResultInput(ctx.input as SessionInput, action, ctx.input.findings, {
        findings: findings.map(findingFact),
        findings_dropped: inspection?.facts.findings_dropped ?? 0,
        bytes: inspection?.facts.bytes ?? 0,
        is_error: inspection?.facts.is_error ?? false,
        inspectors: inspection?.facts.inspectors ?? {},
      });
      let evaluation: DecisionEvaluation =
        ctx.resultRefusal !== undefined
          ? refusedByGateway(policy.current(), input, ctx.resultRefusal)
          : decide(policy.current(), input, 'result');
      if (evaluation.error !== undefined) {
        logger.error('policy evaluation failed', {
          error: evaluation.error,
          revision: evaluation.revision,
        });
      }
      const { decision, obligations } = evaluation;
      if (decision.allow && obligations.redact.length > 0) {
        try {
          ctx.result = redact(ctx.result, obligations.redact, findings);
        } catch (err) {
          if (!(err instanceof RedactionError)) throw err;
          const denied = deny(
            `the policy asked to redact what cannot be redacted (${err.message}); denied`,
          );
          denied.obligations = decision.obligations;
          evaluation = { ...evaluation, decision: denied };
        }
      }
      ctx.resultEvaluation = evaluation;
      if (!evaluation.decision.allow) {
        ctx.deny({ reason: evaluation.decision.reasons.join('; '), code: 'result_denied' });
      }
      return undefined;
    },
  };
}
