// The request _meta rule: what a client sends reaches the upstream, except the keys the
// gateway owns (progressToken, mcpgate/…); trace context always passes.
import { describe, expect, it } from '@jest/globals';
import {
  forwardRequestMeta,
  forwardsMetaKey,
  upstreamMeta,
} from '../../src/pipeline/stages/request-meta.js';
import { requestContext } from './support/context.js';

describe('forwardsMetaKey', () => {
  it.each(['traceparent', 'tracestate', 'baggage'])('always forwards %s', (key) => {
    expect(forwardsMetaKey(key)).toBe(true);
  });

  it.each(['com.example/ticket', 'io.modelcontextprotocol/related-task', 'x', 'mcpgate'])(
    'forwards a key the gateway does not own: %s',
    (key) => {
      expect(forwardsMetaKey(key)).toBe(true);
    },
  );

  it.each(['progressToken', 'mcpgate/purpose', 'mcpgate/decision', 'mcpgate/'])(
    'keeps a key the gateway owns: %s',
    (key) => {
      expect(forwardsMetaKey(key)).toBe(false);
    },
  );
});

describe('upstreamMeta', () => {
  it('drops only the gateway-owned keys, values unchanged', () => {
    const sent = {
      progressToken: 7,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=abc',
      baggage: 'user=alice',
      'mcpgate/purpose': 'code-review',
      'com.example/context': { nested: [1, 2] },
    };
    expect(upstreamMeta(sent)).toEqual({
      traceparent: sent.traceparent,
      tracestate: 'vendor=abc',
      baggage: 'user=alice',
      'com.example/context': { nested: [1, 2] },
    });
  });

  it('sends no _meta when none was sent or nothing is left', () => {
    expect(upstreamMeta(undefined)).toBeUndefined();
    expect(upstreamMeta({})).toBeUndefined();
    expect(upstreamMeta({ progressToken: 'p', 'mcpgate/x': 1 })).toBeUndefined();
  });

  it('keeps a "__proto__" key as an own key, without touching any prototype', () => {
    const sent = JSON.parse('{"__proto__": {"polluted": true}, "k": 1}') as Record<string, unknown>;
    const kept = upstreamMeta(sent);
    expect(Object.keys(kept ?? {})).toEqual(['__proto__', 'k']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(kept)).toBe(Object.prototype);
  });
});

describe('the stage', () => {
  it("puts what the upstream may see on the context, leaving the client's params alone", () => {
    const ctx = requestContext('tools/call');
    const meta = { progressToken: 1, traceparent: 't', 'mcpgate/purpose': 'p' };
    ctx.params._meta = meta;
    expect(forwardRequestMeta().run(ctx)).toBeUndefined();
    expect(ctx.upstreamMeta).toEqual({ traceparent: 't' });
    expect(ctx.params._meta).toEqual({
      progressToken: 1,
      traceparent: 't',
      'mcpgate/purpose': 'p',
    });
  });
});
