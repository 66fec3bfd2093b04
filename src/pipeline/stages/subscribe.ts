// Stage (resources/subscribe, resources/unsubscribe): the allowed subscription is held for
// the session (pipeline/subscriptions.ts), over the connection its calls to that upstream
// use, with this request's credential for the upstream's subscribe; an unsubscribe lets it
// go. The answer is the empty result; an upstream that refuses the subscription, or is
// down, is a JSON-RPC error, and nothing is held.
import { INTERNAL_ERROR, RpcError } from '../../mcp/jsonrpc/errors.js';
import { UpstreamUnavailableError, type CallOptions } from '../../upstreams/connection.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { ResourceSubscriptions } from '../subscriptions.js';
import type { Stage, StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';

export function holdSubscription(
  registry: UpstreamRegistry,
  subscriptions: ResourceSubscriptions,
): Stage {
  return {
    name: 'hold the subscription',
    when: 'allowed',
    async run(ctx: RequestContext): Promise<StageOutcome> {
      const { target } = ctx;
      if (target?.kind !== 'resource') throw new Error('subscribe ran without a resource');
      const options: CallOptions = {
        cancellation: ctx.exchange?.cancellation,
        headers: ctx.credential?.headers ?? {},
      };
      const expiresAt = ctx.credential?.expiresAt;
      if (expiresAt !== undefined) options.headersExpireAt = expiresAt;
      const sessionId = ctx.session.record.id;
      try {
        if (ctx.action === 'resources/unsubscribe') {
          await subscriptions.unsubscribe(sessionId, target.server, target.uri, options);
        } else {
          const connection = await registry.connectionFor(
            target.server,
            sessionId,
            options.headers,
            expiresAt,
          );
          await subscriptions.subscribe(
            connection,
            target.uri,
            { caller: ctx.caller, session: ctx.session, protocolVersion: ctx.protocolVersion },
            options,
          );
        }
      } catch (err) {
        if (!(err instanceof UpstreamUnavailableError)) throw err;
        throw new RpcError(INTERNAL_ERROR, err.message);
      }
      ctx.result = {};
      return undefined;
    },
  };
}
