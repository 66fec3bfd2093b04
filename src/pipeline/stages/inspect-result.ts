// Stage: what the upstream answered, inspected before anything else is done with it (its
// addresses are namespaced after this). First the external inspectors, in configuration
// order, each with the result as the previous one left it (one may return a mutated result,
// which must still be a result of the method); then the built-in detectors over every
// string of the final result, base64 text decoded. The findings and facts go to the result
// decision (stages/decide-result.ts). A result that cannot be inspected (too large, too
// deep, invalid text, a detector that throws, a fail_closed inspector that fails) is not
// passed on: the reason goes to the result decision, which denies it (fail closed).
import {
  CallToolResultSchema,
  GetPromptResultSchema,
  ReadResourceResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { ExternalInspector } from '../../inspect/external.js';
import { InspectorFailure, type InspectionContext } from '../../inspect/external.js';
import type { LocatedFinding } from '../../inspect/finding.js';
import { InspectionRefused, type Walker, type WalkReport } from '../../inspect/walk.js';
import type { ResultFacts } from '../../policy/input.js';
import type { Logger } from '../../util/logger.js';
import type { Stage, StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';
import { SPAN } from '../../telemetry/span-names.js';

const RESULT_SCHEMAS = {
  tool: CallToolResultSchema,
  resource: ReadResourceResultSchema,
  prompt: GetPromptResultSchema,
} as const;

/** Without external inspectors: no answers, no findings of theirs (never written to). */
const NO_ANSWERS: ResultFacts['inspectors'] = Object.freeze({});
const NO_FINDINGS: LocatedFinding[] = [];

export function inspectResult(
  walker: Walker,
  inspectors: readonly ExternalInspector[],
  logger: Logger,
): Stage {
  return {
    name: 'inspect the result (guardrails)',
    span: SPAN.guardrailResult,
    when: 'allowed',
    run(ctx: RequestContext): StageOutcome | Promise<StageOutcome> {
      if (!ctx.target || ctx.result === undefined) return undefined;
      // Without external inspectors, and with the built-in detectors answering at once
      // (all but secretlint on a text its gate opens), no promise is made.
      if (inspectors.length === 0) return walkResult(ctx, walker, NO_ANSWERS, NO_FINDINGS, logger);
      return askAll(ctx, walker, inspectors, logger);
    },
  };
}

async function askAll(
  ctx: RequestContext,
  walker: Walker,
  inspectors: readonly ExternalInspector[],
  logger: Logger,
): Promise<StageOutcome> {
  const answers: ResultFacts['inspectors'] = {};
  const external: LocatedFinding[] = [];
  try {
    for (const inspector of inspectors) {
      await askInspector(inspector, ctx, answers, external, logger);
    }
  } catch (err) {
    refused(ctx, err, logger);
    return undefined;
  }
  return walkResult(ctx, walker, answers, external, logger);
}

/** The built-in detectors over the (final) result; its findings and facts on ctx. */
function walkResult(
  ctx: RequestContext,
  walker: Walker,
  answers: ResultFacts['inspectors'],
  external: LocatedFinding[],
  logger: Logger,
): undefined | Promise<undefined> {
  let report: WalkReport | Promise<WalkReport>;
  try {
    report = walker.inspectNow(ctx.result, '', 'the result');
  } catch (err) {
    refused(ctx, err, logger);
    return undefined;
  }
  if (!(report instanceof Promise)) {
    inspected(ctx, report, answers, external);
    return undefined;
  }
  return report.then(
    (done) => {
      inspected(ctx, done, answers, external);
      return undefined;
    },
    (err: unknown) => {
      refused(ctx, err, logger);
      return undefined;
    },
  );
}

function inspected(
  ctx: RequestContext,
  report: WalkReport,
  answers: ResultFacts['inspectors'],
  external: LocatedFinding[],
): void {
  const findings = external.length === 0 ? report.findings : [...external, ...report.findings];
  if (external.length > 0) findings.forEach((f, i) => (f.id = `f${i + 1}`));
  const isError =
    ctx.target!.kind === 'tool' && (ctx.result as { isError?: unknown }).isError === true;
  ctx.resultInspection = {
    findings,
    facts: {
      findings_dropped: report.dropped,
      bytes: report.bytes,
      is_error: isError,
      inspectors: answers,
    },
  };
}

/** A result that could not be inspected: the reason goes to the result decision. */
function refused(ctx: RequestContext, err: unknown, logger: Logger): void {
  if (!(err instanceof InspectionRefused) && !(err instanceof InspectorFailure)) throw err;
  const reason =
    err instanceof InspectorFailure
      ? `${err.message}, so the result could not be inspected; denied (fail closed)`
      : err.message;
  logger.warn('result refused: it could not be inspected', {
    session: ctx.session.record.id.slice(0, 8),
    target: ctx.target!.id,
    reason,
  });
  ctx.resultRefusal = reason;
}

async function askInspector(
  inspector: ExternalInspector,
  ctx: RequestContext,
  answers: ResultFacts['inspectors'],
  found: LocatedFinding[],
  logger: Logger,
): Promise<void> {
  const target = ctx.target!;
  const context: InspectionContext = {
    action: ctx.action,
    target: { kind: target.kind, server: target.server, id: target.id },
    session: { id: ctx.session.record.id, purpose: ctx.session.record.purpose },
    user: { issuer: ctx.identity.issuer, subject: ctx.identity.subject },
    decision_id: ctx.decisionId,
  };
  try {
    const answer = await inspector.inspect(ctx.result, context);
    answers[inspector.name] = answer.verdict;
    if (answer.verdict === 'findings') found.push(...answer.findings);
    if (answer.verdict === 'mutated') {
      const schema = target.kind === 'completion' ? undefined : RESULT_SCHEMAS[target.kind];
      const parsed = schema?.safeParse(answer.result);
      if (!parsed?.success) {
        throw new InspectorFailure(
          `inspector ${inspector.name} answered a mutated result that is not a ${ctx.action} result`,
        );
      }
      // Findings are spans of the result they were found in: a mutated result starts afresh.
      found.length = 0;
      ctx.result = answer.result;
    }
  } catch (err) {
    if (!(err instanceof InspectorFailure) || inspector.config.failureMode === 'fail_closed')
      throw err;
    answers[inspector.name] = 'skipped';
    logger.warn('external inspector skipped (failure_mode: fail_open)', {
      inspector: inspector.name,
      session: ctx.session.record.id.slice(0, 8),
      reason: err.message,
    });
  }
}
