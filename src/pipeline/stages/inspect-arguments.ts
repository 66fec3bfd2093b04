// Stage: the arguments of a tools/call or prompts/get go through the guardrail detectors
// before the policy decides. A secret or personal data in an argument is how data leaves
// (an exfiltration attempt), so what is found becomes facts in input.findings, with
// pointers into the input (/arguments/…) and masked excerpts; the policy decides what they
// mean. Arguments that cannot be inspected (text that is not valid Unicode, too deep) are
// refused as invalid params with the reason, like arguments that do not fit the tool's schema.
import { INVALID_PARAMS } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import { InspectionRefused, type Walker, type WalkReport } from '../../inspect/walk.js';
import type { Stage, StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';
import { SPAN } from '../../telemetry/span-names.js';

export function inspectArguments(walker: Walker): Stage {
  return {
    name: 'inspect the arguments (guardrails)',
    span: SPAN.guardrailArguments,
    when: 'allowed',
    run(ctx: RequestContext): StageOutcome | Promise<StageOutcome> {
      if (Object.keys(ctx.args).length === 0) return undefined;
      let report: WalkReport | Promise<WalkReport>;
      try {
        report = walker.inspectNow(ctx.args, '/arguments', 'the arguments');
      } catch (err) {
        throw invalid(err);
      }
      // Synchronous unless a detector is (secretlint, on a text its gate opens).
      if (!(report instanceof Promise)) return found(ctx, report);
      return report.then(
        (done) => found(ctx, done),
        (err: unknown) => {
          throw invalid(err);
        },
      );
    },
  };
}

function found(ctx: RequestContext, report: WalkReport): undefined {
  if (report.findings.length > 0) ctx.argumentFindings = report.findings;
  return undefined;
}

/** A refusal of the walk as invalid params; any other error as it is. */
function invalid(err: unknown): unknown {
  if (!(err instanceof InspectionRefused)) return err;
  return new RpcError(INVALID_PARAMS, `Invalid arguments: ${err.message}`);
}
