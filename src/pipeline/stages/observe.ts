// Stages: the request's metrics and spans, around its whole chain. `begin` runs first and
// starts the clock and the SERVER span (named `{mcp.method.name} {target}`, a child of the
// trace context the client sent, started when the HTTP request arrived, with the finished
// authentication and session-load steps as its first children); `end` runs after the
// answer, also when a stage threw, and records the outcome: the operation's duration, the
// decision with its evaluation time, a denial's reason code, and the span's attributes.
// Neither is in a chain when metrics and tracing are both off (chains.ts), so then they
// cost nothing. docs/observability.md lists what they produce.
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import { DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT } from '../../policy/engine.js';
import type { GatewayMetrics } from '../../telemetry/metrics.js';
import {
  ATTR,
  EXECUTE_TOOL,
  operationSpanName,
  SPAN,
  TOOL_ERROR,
} from '../../telemetry/span-names.js';
import { failSpan, type Tracing } from '../../telemetry/tracing.js';
import type { Stage } from '../chain.js';
import type { DenialCode, RequestContext } from '../context.js';

export interface RequestTelemetry {
  metrics?: GatewayMetrics | undefined;
  tracing?: Tracing | undefined;
}

/** What became of a request, as the metrics' `outcome` label says it (four values). */
export type Outcome = 'ok' | 'tool_error' | 'denied' | 'error';

/** The MCP method of a policy action (session/open is the client's initialize). */
export function mcpMethodOf(action: string): string {
  return action === 'session/open' ? 'initialize' : action;
}

/** The name in a span's `{target}`: the tool or prompt the client named. */
function targetName(ctx: RequestContext): string | undefined {
  if (ctx.action !== 'tools/call' && ctx.action !== 'prompts/get') return undefined;
  return typeof ctx.params.name === 'string' ? ctx.params.name : undefined;
}

/** The stable code of a denial (the reason text is for people). */
export function denialCodeOf(ctx: RequestContext): DenialCode {
  if (ctx.denial !== undefined) return ctx.denial.code;
  const evaluation = ctx.evaluation;
  return evaluation === undefined || evaluation.error !== undefined || evaluation.revision === ''
    ? 'policy_error'
    : 'policy';
}

export function outcomeOf(ctx: RequestContext): Outcome {
  if (ctx.denied) return 'denied';
  if (ctx.thrown !== undefined) return 'error';
  const result = ctx.result as { isError?: unknown } | undefined;
  return ctx.action === 'tools/call' && result?.isError === true ? 'tool_error' : 'ok';
}

export function beginObservation(telemetry: RequestTelemetry): Stage {
  const { metrics, tracing } = telemetry;
  return {
    name: 'observe: start the clock and the request span',
    when: 'always',
    run(ctx: RequestContext) {
      if (metrics !== undefined) ctx.startedAt = performance.now();
      if (tracing === undefined) return undefined;
      const parent = tracing.sample(ctx.incomingTrace);
      if (parent === undefined) return undefined; // not sampled: no spans, nothing built
      const method = mcpMethodOf(ctx.action);
      const target = targetName(ctx);
      const attributes: Record<string, string> = {
        [ATTR.methodName]: method,
        [ATTR.sessionId]: ctx.session.record.id,
        [ATTR.requestId]: String(ctx.requestId),
        [ATTR.networkTransport]: 'tcp',
      };
      if (ctx.protocolVersion !== undefined) attributes[ATTR.protocolVersion] = ctx.protocolVersion;
      if (ctx.action === 'tools/call' && target !== undefined) {
        attributes[ATTR.toolName] = target;
        attributes[ATTR.operationName] = EXECUTE_TOOL;
      } else if (ctx.action === 'prompts/get' && target !== undefined) {
        attributes[ATTR.promptName] = target;
      } else if (ctx.action === 'resources/read' && typeof ctx.params.uri === 'string') {
        attributes[ATTR.resourceUri] = ctx.params.uri;
      }
      const arrival = ctx.arrival;
      const trace = tracing.startRequest(
        operationSpanName(method, target),
        parent,
        attributes,
        arrival?.at,
      );
      ctx.trace = trace;
      if (arrival !== undefined) {
        trace.addFinished(SPAN.authenticate, arrival.at, arrival.authenticated);
        if (arrival.loadStart !== undefined && arrival.loadEnd !== undefined) {
          trace.addFinished(SPAN.sessionLoad, arrival.loadStart, arrival.loadEnd);
        }
      }
      return undefined;
    },
  };
}

export function endObservation(telemetry: RequestTelemetry): Stage {
  const { metrics } = telemetry;
  return {
    name: 'observe: record the outcome',
    when: 'finally',
    run(ctx: RequestContext) {
      const outcome = outcomeOf(ctx);
      const method = mcpMethodOf(ctx.action);
      if (metrics !== undefined) record(metrics, ctx, method, outcome);
      const trace = ctx.trace;
      if (trace === undefined || !trace.recording) {
        trace?.server.end();
        return undefined;
      }
      const span = trace.server;
      if (ctx.target !== undefined) span.setAttribute(ATTR.upstream, ctx.target.server);
      if (ctx.decision !== undefined) {
        span.setAttribute(ATTR.decision, ctx.decision.allow ? 'allow' : 'deny');
      }
      if (ctx.decisionId !== '') span.setAttribute(ATTR.decisionId, ctx.decisionId);
      if (ctx.evaluation !== undefined) {
        span.setAttribute(ATTR.policyRevision, ctx.evaluation.revision);
      }
      if (outcome === 'denied') {
        span.setAttribute(ATTR.denialCode, denialCodeOf(ctx));
      }
      if (ctx.thrown instanceof RpcError) {
        span.setAttribute(ATTR.rpcStatusCode, String(ctx.thrown.rpcCode));
      }
      if (outcome === 'error') failSpan(span, ctx.thrown);
      else if (outcome === 'tool_error' || (outcome === 'denied' && ctx.action === 'tools/call')) {
        // A denied tools/call is a tool result with isError: true, as the client sees it.
        span.setAttribute(ATTR.errorType, TOOL_ERROR);
      } else if (outcome === 'denied') {
        span.setAttribute(ATTR.errorType, 'denied');
      }
      span.end();
      return undefined;
    },
  };
}

function record(
  metrics: GatewayMetrics,
  ctx: RequestContext,
  method: string,
  outcome: Outcome,
): void {
  const seconds = (performance.now() - ctx.startedAt) / 1000;
  metrics.serverOperation(method, ctx.target?.server ?? '', outcome).observe(seconds);
  const purpose = ctx.session.record.purpose;
  const { evaluation, visible } = ctx;
  if (evaluation !== undefined) {
    metrics.policyEvaluation(DECISION_ENTRYPOINT).observe(evaluation.evalNs / 1e9);
    // The decision in force: a later stage's deny (rate limit, store) counts as a deny.
    metrics
      .decision(DECISION_ENTRYPOINT, ctx.decision?.allow === true ? 'allow' : 'deny', purpose)
      .inc();
  }
  if (visible !== undefined) {
    metrics.policyEvaluation(VISIBLE_ENTRYPOINT).observe(visible.evalNs / 1e9);
    metrics
      .decision(VISIBLE_ENTRYPOINT, visible.error === undefined ? 'ok' : 'error', purpose)
      .inc();
  }
  if (outcome === 'denied') metrics.denial(method, denialCodeOf(ctx)).inc();
}
