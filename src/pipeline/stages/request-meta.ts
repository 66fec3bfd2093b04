// Stage: the request's `_meta` as the upstream gets it. Every key the client sent reaches
// the upstream except the ones the gateway owns: `progressToken` (the gateway asks the
// upstream for progress under a token of its own and relays it under the client's, see
// forward.ts) and every `mcpgate/…` key (the gateway's own namespace, e.g. the session
// purpose at initialize). W3C trace context (`traceparent`, `tracestate`, `baggage`) always
// passes, so a trace continues through the gateway into the upstream (forward.ts puts the
// trace context in last: the client's from _meta or its HTTP headers, or, when the request
// is traced, the gateway's CLIENT span's).
// docs/mcp-compatibility.md#_meta documents the rule.
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

/** Keys of the gateway's own: never forwarded. */
export const GATEWAY_META_PREFIX = 'mcpgate/';
const PROGRESS_TOKEN = 'progressToken';

/** Trace-context keys (W3C Trace Context and Baggage): forwarded whatever else is dropped. */
export const TRACE_CONTEXT_KEYS: ReadonlySet<string> = new Set([
  'traceparent',
  'tracestate',
  'baggage',
]);

/** Whether a client's `_meta` key is forwarded to the upstream. */
export function forwardsMetaKey(key: string): boolean {
  if (TRACE_CONTEXT_KEYS.has(key)) return true;
  return key !== PROGRESS_TOKEN && !key.startsWith(GATEWAY_META_PREFIX);
}

/** The `_meta` the upstream gets; undefined when nothing is left to send. */
export function upstreamMeta(
  meta: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> | undefined {
  if (meta === undefined) return undefined;
  let kept: Record<string, unknown> | undefined;
  for (const key of Object.keys(meta)) {
    if (!forwardsMetaKey(key)) continue;
    // defineProperty: a key such as "__proto__" stays an own key, as the client sent it.
    Object.defineProperty((kept ??= {}), key, {
      value: meta[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return kept;
}

export function forwardRequestMeta(): Stage {
  return {
    name: 'request _meta for the upstream',
    when: 'allowed',
    run(ctx: RequestContext) {
      ctx.upstreamMeta = upstreamMeta(ctx.params._meta);
      return undefined;
    },
  };
}
