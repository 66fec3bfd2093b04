// Stage: the arguments of a tools/call or prompts/get go through the guardrail detectors
// before the policy decides. A secret or personal data in an argument is how data leaves
// (an exfiltration attempt), so what is found becomes facts in input.findings, with
// pointers into the input (/arguments/…) and masked excerpts; the policy decides what they
// mean. Arguments that cannot be inspected (text that is not valid Unicode, too deep) are
// refused as invalid params with the reason, like arguments that do not fit the tool's schema.
import { INVALID_PARAMS } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import { InspectionRefused, type Walker } from '../../inspect/walk.js';
import type { Stage, StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';
import { SPAN } from '../../telemetry/span-names.js';

export function inspectArguments(walker: Walker): Stage {
  return {
    name: 'inspect the arguments (guardrails)',
    span: SPAN.guardrailArguments,
    when: 'allowed',
    async run(ctx: RequestContext): Promise<StageOutcome> {
      if (Object.keys(ctx.args).length === 0) return undefined;
      try {
        const report = await walker.inspect(ctx.args, '/arguments', 'the arguments');
        if (report.findings.length > 0) ctx.argumentFindings = report.findings;
      } catch (err) {
        if (!(err instanceof InspectionRefused)) throw err;
        throw new RpcError(INVALID_PARAMS, `Invalid arguments: ${err.message}`);
      }
      return undefined;
    },
  };
}
