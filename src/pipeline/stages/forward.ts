// Stage: the allowed call goes to its upstream over the session's connection, with this
// call's own credential, the request _meta the upstream may see (stages/request-meta.ts),
// the client's cancellation, and progress relayed back under the client's own progress token.
// The call's W3C trace context goes with it (in _meta, and in headers to an HTTP upstream);
// when metrics or tracing are on, its duration and outcome are measured here
// (mcp_client_operation_duration_seconds) and it has a CLIENT span of its own.
// The answer is the upstream's own; stages/namespace-result.ts shows its addresses. An upstream that is down answers a tools/call with a tool
// error (the agent can read it) and any other call with a JSON-RPC error.
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { INTERNAL_ERROR, RpcError } from '../../mcp/jsonrpc/errors.js';
import {
  UpstreamUnavailableError,
  type CallOptions,
  type UpstreamConnection,
} from '../../upstreams/connection.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { Span } from '@opentelemetry/api';
import { ATTR, EXECUTE_TOOL, operationSpanName, TOOL_ERROR } from '../../telemetry/span-names.js';
import { failSpan, type RequestTrace } from '../../telemetry/tracing.js';
import type { Stage, StageOutcome } from '../chain.js';
import type { Exchange, RequestContext, Target } from '../context.js';
import { mcpMethodOf, type RequestTelemetry } from './observe.js';

const NO_HEADERS: Record<string, string> = Object.freeze({});

export function forwardToUpstream(
  registry: UpstreamRegistry,
  telemetry: RequestTelemetry = {},
): Stage {
  const { metrics } = telemetry;
  const call = async (ctx: RequestContext, target: Target): Promise<StageOutcome> => {
    const headers = ctx.credential?.headers ?? NO_HEADERS;
    const expiresAt = ctx.credential?.expiresAt;
    // Progress is relayed for tools and prompts (resources/read reports none).
    const progressToken = target.kind === 'resource' ? undefined : ctx.params._meta?.progressToken;
    const relay = new ProgressRelay(progressToken, ctx.exchange, headers, expiresAt);
    // The trace goes on in _meta and, to an HTTP upstream, in headers: the CLIENT span's
    // context when the request is traced, else what the client sent.
    const carrier = ctx.trace?.upstreamCarrier(ctx.incomingTrace?.baggage) ?? ctx.incomingTrace;
    const meta = carrier === undefined ? ctx.upstreamMeta : { ...ctx.upstreamMeta, ...carrier };
    if (carrier !== undefined) relay.options.traceHeaders = carrier;
    let connection: UpstreamConnection;
    try {
      // The connection (when this is the session's first call) opens with this call's credential.
      connection = await registry.connectionFor(
        target.server,
        ctx.session.record.id,
        headers,
        expiresAt,
      );
      switch (target.kind) {
        case 'tool': {
          const result = await connection.callTool(
            withMeta({ name: target.name, arguments: ctx.args }, meta),
            relay.options,
          );
          await relay.flushed();
          ctx.result = result;
          return undefined;
        }
        case 'prompt': {
          const result = await connection.getPrompt(
            withMeta({ name: target.name, arguments: ctx.args as Record<string, string> }, meta),
            relay.options,
          );
          await relay.flushed();
          ctx.result = result;
          return undefined;
        }
        case 'resource': {
          const result = await connection.readResource(
            withMeta({ uri: target.uri }, meta),
            relay.options,
          );
          // Its contents carry the upstream's URIs: the next stage namespaces them.
          ctx.result = result;
          return undefined;
        }
      }
    } catch (err) {
      if (!(err instanceof UpstreamUnavailableError)) throw err;
      if (target.kind === 'tool') {
        // A tool error the agent can read; nothing left to check.
        return { respond: { content: [{ type: 'text', text: err.message }], isError: true } };
      }
      throw new RpcError(INTERNAL_ERROR, err.message);
    }
  };

  return {
    name: 'forward to the upstream',
    when: 'allowed',
    async run(ctx: RequestContext): Promise<StageOutcome> {
      const { target } = ctx;
      if (!target) throw new Error('forward ran before the target was resolved');
      const trace = ctx.trace;
      if (metrics === undefined && (trace === undefined || !trace.recording)) {
        return call(ctx, target);
      }
      const started = performance.now();
      const span = trace?.recording ? startClientSpan(trace, ctx, target) : undefined;
      let outcome: 'ok' | 'tool_error' | 'error' = 'error';
      let threw = false;
      try {
        const answer = await call(ctx, target);
        const result = (
          answer !== undefined && 'respond' in answer ? answer.respond : ctx.result
        ) as { isError?: unknown } | undefined;
        outcome = result?.isError === true ? 'tool_error' : 'ok';
        if (answer !== undefined && 'respond' in answer) outcome = 'error';
        return answer;
      } catch (err) {
        threw = true;
        if (span !== undefined) {
          if (err instanceof RpcError) span.setAttribute(ATTR.rpcStatusCode, String(err.rpcCode));
          failSpan(span, err);
        }
        throw err;
      } finally {
        const method = mcpMethodOf(ctx.action);
        metrics
          ?.clientOperation(method, target.server, outcome)
          .observe((performance.now() - started) / 1000);
        if (span !== undefined) {
          if (outcome === 'tool_error') span.setAttribute(ATTR.errorType, TOOL_ERROR);
          else if (outcome === 'error' && !threw) {
            span.setAttribute(ATTR.errorType, 'upstream_unavailable');
          }
          span.end();
        }
      }
    },
  };
}

/** The CLIENT span of the upstream call: `{mcp.method.name} {target}` as the upstream names it. */
function startClientSpan(trace: RequestTrace, ctx: RequestContext, target: Target): Span {
  const method = mcpMethodOf(ctx.action);
  const attributes: Record<string, string> = {
    [ATTR.methodName]: method,
    [ATTR.upstream]: target.server,
    [ATTR.serverAddress]: target.server,
  };
  let name: string | undefined;
  if (target.kind === 'tool') {
    name = target.name;
    attributes[ATTR.toolName] = target.name;
    attributes[ATTR.operationName] = EXECUTE_TOOL;
  } else if (target.kind === 'prompt') {
    name = target.name;
    attributes[ATTR.promptName] = target.name;
  } else {
    attributes[ATTR.resourceUri] = target.uri;
  }
  return trace.startClient(operationSpanName(method, name), attributes);
}

/** The upstream request's params, with the request _meta when there is any to send. */
function withMeta<P extends object>(
  params: P,
  meta: Record<string, unknown> | undefined,
): P & { _meta?: Record<string, unknown> } {
  return meta === undefined ? params : { ...params, _meta: meta };
}

/**
 * Cancellation, progress and the call's credential travel with the call. `flushed` resolves
 * once every relayed notification is written, so the last progress update never arrives
 * after the result. The transport writes notifications in order, so the last one written
 * stands for all: an upstream sending a million progress notifications leaves one promise
 * here, not a million.
 */
class ProgressRelay {
  readonly options: CallOptions;
  private last: Promise<void> | undefined;

  constructor(
    progressToken: string | number | undefined,
    exchange: Exchange | undefined,
    headers: Record<string, string>,
    headersExpireAt: number | undefined,
  ) {
    this.options = { cancellation: exchange?.cancellation, headers };
    if (headersExpireAt !== undefined) this.options.headersExpireAt = headersExpireAt;
    if (progressToken === undefined || !exchange) return;
    this.options.onprogress = (progress: Progress) => {
      this.last = exchange
        .sendNotification({
          method: 'notifications/progress',
          params: { ...progress, progressToken },
        })
        .catch(() => undefined);
    };
  }

  flushed(): Promise<unknown> {
    return this.last ?? Promise.resolve();
  }
}
