// Stage: the allowed call goes to its upstream over the session's connection, with this
// call's own credential, the request _meta the upstream may see (stages/request-meta.ts),
// the client's cancellation, and progress relayed back under the client's own progress token.
// The call carries this context as its origin, so what the upstream asks or logs while
// serving it reaches this session (upstream-messages.ts), and its W3C trace context (in
// _meta, and as headers to an HTTP upstream). Its metric and CLIENT span are put around
// this stage (observe-upstream.ts).
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
import type { Stage, StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';
import { upstreamTraceContext } from './observe-upstream.js';

const NO_HEADERS: Record<string, string> = Object.freeze({});

export function forwardToUpstream(registry: UpstreamRegistry): Stage {
  return {
    name: 'forward to the upstream',
    when: 'allowed',
    async run(ctx: RequestContext): Promise<StageOutcome> {
      const { target } = ctx;
      if (!target) throw new Error('forward ran before the target was resolved');
      const headers = ctx.credential?.headers ?? NO_HEADERS;
      const expiresAt = ctx.credential?.expiresAt;
      // Progress is relayed for tools and prompts (resources/read and completions report none).
      const progressToken =
        target.kind === 'tool' || target.kind === 'prompt'
          ? ctx.params._meta?.progressToken
          : undefined;
      const relay = new ProgressRelay(ctx, progressToken, headers, expiresAt);
      const traceContext = upstreamTraceContext(ctx);
      if (traceContext !== undefined) relay.options.traceHeaders = traceContext;
      const meta =
        traceContext === undefined ? ctx.upstreamMeta : { ...ctx.upstreamMeta, ...traceContext };
      let connection: UpstreamConnection;
      try {
        // The connection (when this is the session's first call) opens with this call's credential.
        connection = await registry.connectionFor(
          target.server,
          ctx.session.record.id,
          headers,
          expiresAt,
          ctx.session.record.clientCapabilities,
        );
        switch (target.kind) {
          case 'tool': {
            const { task } = ctx.params;
            if (task !== undefined) {
              // Run as a task: the upstream answers with the task it created (stages/bind-task.ts).
              ctx.result = await connection.createToolTask(
                withMeta({ name: target.name, arguments: ctx.args, task }, meta),
                relay.options,
              );
              return undefined;
            }
            const result = await connection.callTool(
              withRetry(withMeta({ name: target.name, arguments: ctx.args }, meta), ctx),
              relay.options,
            );
            await relay.flushed(ctx);
            ctx.result = result;
            return undefined;
          }
          case 'prompt': {
            const result = await connection.getPrompt(
              withRetry(
                withMeta(
                  { name: target.name, arguments: ctx.args as Record<string, string> },
                  meta,
                ),
                ctx,
              ),
              relay.options,
            );
            await relay.flushed(ctx);
            ctx.result = result;
            return undefined;
          }
          case 'resource': {
            const result = await connection.readResource(
              withRetry(withMeta({ uri: target.uri }, meta), ctx),
              relay.options,
            );
            // Its contents carry the upstream's URIs: the next stage namespaces them.
            await relay.flushed(ctx);
            ctx.result = result;
            return undefined;
          }
          case 'completion': {
            const { ref } = target;
            const { argument, context } = ctx.params;
            ctx.result = await connection.complete(
              withMeta(
                {
                  ref:
                    ref.kind === 'prompt'
                      ? { type: 'ref/prompt', name: ref.name }
                      : { type: 'ref/resource', uri: ref.uri },
                  argument: argument ?? { name: '', value: '' },
                  ...(context === undefined ? {} : { context }),
                },
                meta,
              ),
              relay.options,
            );
            return undefined;
          }
        }
      } catch (err) {
        if (!(err instanceof UpstreamUnavailableError)) throw err;
        if (target.kind === 'tool' && ctx.params.task === undefined) {
          // A tool error the agent can read; nothing left to check.
          return { respond: { content: [{ type: 'text', text: err.message }], isError: true } };
        }
        throw new RpcError(INTERNAL_ERROR, err.message);
      }
    },
  };
}

/**
 * A retry of a call that needed input (MRTR): the client's answers, and the upstream's own
 * requestState in place of the gateway's (stages/request-state.ts).
 */
function withRetry<P extends object>(params: P, ctx: RequestContext): P {
  const retry = ctx.retry;
  if (!retry) return params;
  return {
    ...params,
    ...(retry.inputResponses === undefined ? {} : { inputResponses: retry.inputResponses }),
    ...(retry.upstreamState === undefined ? {} : { requestState: retry.upstreamState }),
  };
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
    ctx: RequestContext,
    progressToken: string | number | undefined,
    headers: Record<string, string>,
    headersExpireAt: number | undefined,
  ) {
    const exchange = ctx.exchange;
    // The context is the call's origin: what the upstream asks or logs during it is its.
    this.options = { cancellation: exchange?.cancellation, headers, origin: ctx };
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

  /** Progress written, and the call's log messages held for a decision delivered. */
  flushed(ctx: RequestContext): Promise<unknown> | undefined {
    const held = ctx.heldNotifications;
    return held === undefined ? this.last : Promise.all([this.last, held]);
  }
}
