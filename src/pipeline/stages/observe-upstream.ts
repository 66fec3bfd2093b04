// The upstream call, measured: wraps the stage that calls the upstream (forward, forward
// task) with the metric mcp_client_operation_duration_seconds and, when the request is
// traced, a CLIENT span named `{mcp.method.name} {target}` as the upstream names it. The
// stage it wraps knows nothing of either; it only passes the trace context on
// (upstreamTraceContext), which is the CLIENT span's once this wrapper has started it.
// With metrics and tracing both off the stage is returned as it is.
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import { ATTR, EXECUTE_TOOL, operationSpanName, TOOL_ERROR } from '../../telemetry/span-names.js';
import type { RequestTrace, TracedSpan, TraceCarrier } from '../../telemetry/tracing.js';
import type { Stage, StageOutcome } from '../chain.js';
import type { RequestContext, Target } from '../context.js';
import { mcpMethodOf, type RequestTelemetry } from './observe.js';

/** What became of an upstream call, as the metric's `outcome` label says it. */
type ClientOutcome = 'ok' | 'tool_error' | 'error';

/**
 * The W3C trace context the upstream gets, in _meta and (HTTP upstreams) as headers: the
 * CLIENT span's when the request is traced, else what the client sent.
 */
export function upstreamTraceContext(ctx: RequestContext): TraceCarrier | undefined {
  return ctx.trace?.upstreamCarrier(ctx.incomingTrace?.baggage) ?? ctx.incomingTrace;
}

/** The upstream the request goes to: the resolved target, or the tool that runs the task. */
function upstreamTarget(ctx: RequestContext): Target | undefined {
  return ctx.target ?? ctx.task?.target;
}

export function measureUpstreamCall(call: Stage, telemetry: RequestTelemetry): Stage {
  const { metrics, tracing } = telemetry;
  if (metrics === undefined && tracing === undefined) return call;
  return {
    name: call.name,
    when: call.when,
    async run(ctx: RequestContext): Promise<StageOutcome> {
      const target = upstreamTarget(ctx);
      const trace = ctx.trace;
      if (target === undefined || (metrics === undefined && trace?.recording !== true)) {
        return call.run(ctx);
      }
      const started = performance.now();
      const span = trace?.recording === true ? startClientSpan(trace, ctx, target) : undefined;
      let outcome: ClientOutcome = 'error';
      // An answer of the stage's own instead of the upstream's: the upstream is down.
      let unavailable = false;
      try {
        const answer = await call.run(ctx);
        unavailable = answer !== undefined && 'respond' in answer;
        const result = ctx.result as { isError?: unknown } | undefined;
        outcome = unavailable ? 'error' : result?.isError === true ? 'tool_error' : 'ok';
        return answer;
      } catch (err) {
        if (span !== undefined) {
          if (err instanceof RpcError) span.setAttribute(ATTR.rpcStatusCode, String(err.rpcCode));
          span.fail(err);
        }
        throw err;
      } finally {
        metrics
          ?.clientOperation(mcpMethodOf(ctx.action), target.server, outcome)
          .observe((performance.now() - started) / 1000);
        if (span !== undefined) {
          if (outcome === 'tool_error') span.setAttribute(ATTR.errorType, TOOL_ERROR);
          else if (unavailable) span.setAttribute(ATTR.errorType, 'upstream_unavailable');
          span.end();
        }
      }
    },
  };
}

/** The CLIENT span of the upstream call: `{mcp.method.name} {target}` as the upstream names it. */
function startClientSpan(trace: RequestTrace, ctx: RequestContext, target: Target): TracedSpan {
  const method = mcpMethodOf(ctx.action);
  const attributes: Record<string, string> = {
    [ATTR.methodName]: method,
    [ATTR.upstream]: target.server,
    [ATTR.serverAddress]: target.server,
  };
  // Only the call itself is named by its tool or prompt (tasks/* name the task's method).
  const named = ctx.action === 'tools/call' || ctx.action === 'prompts/get';
  let name: string | undefined;
  if (target.kind === 'tool') {
    attributes[ATTR.toolName] = target.name;
    if (named) {
      name = target.name;
      attributes[ATTR.operationName] = EXECUTE_TOOL;
    }
  } else if (target.kind === 'prompt') {
    attributes[ATTR.promptName] = target.name;
    if (named) name = target.name;
  } else if (target.kind === 'resource') {
    attributes[ATTR.resourceUri] = target.uri;
  }
  return trace.startClient(operationSpanName(method, name), attributes);
}
