// Stages: the request's metrics and spans, around its whole chain. `begin` runs first and
// starts the clock and the SERVER span (named `{mcp.method.name} {target}`, a child of the
// trace context the client sent, started when the HTTP request arrived, with the finished
// authentication and session-load steps as its first children); `end` runs after the
// answer, also when a stage threw, and records the outcome: the operation's duration, the
// decision with its evaluation time, a denial's reason code, and the span's attributes.
// Neither is in a chain when metrics and tracing are both off (chains.ts), so then they
// cost nothing. Every chain has them; the decisions on delivering a notification
// (notifications/…) are measured but get no span, as no one asked for them. What an
// upstream asks of a client (sampling, elicitation, roots) is traced under the upstream's
// trace context, else under the CLIENT span of the call it came during.
// docs/observability.md lists what they produce.
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
import { carrierOf, type TraceCarrier, type Tracing } from '../../telemetry/tracing.js';
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

/** The upstream a request is about: its target's, the task's, or the one asking. */
function upstreamOf(ctx: RequestContext): string | undefined {
  return ctx.target?.server ?? ctx.task?.target.server ?? ctx.ask?.server;
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
  const toolResult = ctx.action === 'tools/call' || ctx.action === 'tasks/result';
  return toolResult && result?.isError === true ? 'tool_error' : 'ok';
}

/**
 * The trace context a request continues: the client's (params._meta, else its headers);
 * for what an upstream asks, the upstream's own (its request's _meta), else the context
 * the gateway gave the upstream for the call it came during.
 */
function incomingTraceOf(ctx: RequestContext): TraceCarrier | undefined {
  const ask = ctx.ask;
  if (ask === undefined) return ctx.incomingTrace;
  const meta = ask.params._meta;
  const own =
    typeof meta === 'object' && meta !== null
      ? carrierOf(meta as Record<string, unknown>)
      : undefined;
  return own ?? ask.related?.trace?.upstreamCarrier(undefined) ?? ask.related?.incomingTrace;
}

export function beginObservation(telemetry: RequestTelemetry): Stage {
  const { metrics, tracing } = telemetry;
  return {
    name: 'observe: start the clock and the request span',
    when: 'always',
    run(ctx: RequestContext) {
      if (metrics !== undefined) ctx.startedAt = performance.now();
      // A notification's delivery is decided and measured, but no one asked for it: no span.
      if (tracing === undefined || ctx.action.startsWith('notifications/')) return undefined;
      const parent = tracing.sample(incomingTraceOf(ctx));
      if (parent === undefined) return undefined; // not sampled: no spans, nothing built
      const method = mcpMethodOf(ctx.action);
      const target = targetName(ctx);
      const attributes: Record<string, string> = {
        [ATTR.methodName]: method,
        [ATTR.sessionId]: ctx.session.record.id,
        [ATTR.networkTransport]: 'tcp',
      };
      if (ctx.requestId !== undefined) attributes[ATTR.requestId] = String(ctx.requestId);
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
      const upstream = upstreamOf(ctx);
      if (upstream !== undefined) span.setAttribute(ATTR.upstream, upstream);
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
      if (outcome === 'error') span.fail(ctx.thrown);
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
  metrics.serverOperation(method, upstreamOf(ctx) ?? '', outcome).observe(seconds);
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
  for (const finding of ctx.argumentFindings) metrics.guardrailFinding(finding.detector).inc();
  const resultFindings = ctx.resultInspection?.findings;
  if (resultFindings !== undefined) {
    for (const finding of resultFindings) metrics.guardrailFinding(finding.detector).inc();
  }
}
