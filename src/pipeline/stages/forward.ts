// Stage: the allowed call goes to its upstream over the session's connection, with this
// call's own credential, the client's cancellation, and progress relayed back under the
// client's own progress token. An upstream that is down answers a tools/call with a tool
// error (the agent can read it) and any other call with a JSON-RPC error.
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { INTERNAL_ERROR, RpcError } from '../../mcp/jsonrpc/errors.js';
import { exposedUri } from '../../upstreams/catalog.js';
import {
  UpstreamUnavailableError,
  type CallOptions,
  type UpstreamConnection,
} from '../../upstreams/connection.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { Stage, StageOutcome } from '../chain.js';
import type { Exchange, RequestContext } from '../context.js';

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
      // Progress is relayed for tools and prompts (resources/read reports none).
      const progressToken =
        target.kind === 'resource' ? undefined : ctx.params._meta?.progressToken;
      const relay = new ProgressRelay(progressToken, ctx.exchange, headers, expiresAt);
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
              { name: target.name, arguments: ctx.args },
              relay.options,
            );
            await relay.flushed();
            ctx.result = result;
            return undefined;
          }
          case 'prompt': {
            const result = await connection.getPrompt(
              { name: target.name, arguments: ctx.args as Record<string, string> },
              relay.options,
            );
            await relay.flushed();
            ctx.result = result;
            return undefined;
          }
          case 'resource': {
            const result = await connection.readResource({ uri: target.uri }, relay.options);
            // Contents carry the upstream's URIs; show them under the namespaced form.
            ctx.result = {
              ...result,
              contents: result.contents.map((c) => ({
                ...c,
                uri: exposedUri(target.server, c.uri),
              })),
            };
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
    },
  };
}

/**
 * Cancellation, progress and the call's credential travel with the call. `flushed` resolves
 * once every relayed notification is written, so the last progress update never arrives
 * after the result.
 */
class ProgressRelay {
  readonly options: CallOptions;
  private readonly pending: Array<Promise<void>> = [];

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
      this.pending.push(
        exchange
          .sendNotification({
            method: 'notifications/progress',
            params: { ...progress, progressToken },
          })
          .catch(() => undefined),
      );
    };
  }

  flushed(): Promise<unknown> {
    return this.pending.length === 0 ? Promise.resolve() : Promise.all(this.pending);
  }
}
