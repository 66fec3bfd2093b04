// What both tracing tests check, whichever OTLP receiver got the spans (the default test's
// receiver on the OpenTelemetry protobuf definitions, or the opt-in Jaeger): a gateway that
// exports to the receiver, one tools/call under a client trace, and the shape of its trace.
import { expect } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { TestIssuer } from '../../support/issuer.js';
import { textOf } from './client.js';
import { startGatewayProcess, type GatewayProcess } from './gateway.js';
import { buildFixturePolicy, labServer } from './policies.js';

/** A span as a receiver gave it back, in one form for both tests. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  kind: 'SERVER' | 'CLIENT' | 'INTERNAL' | 'PRODUCER' | 'CONSUMER' | 'UNSPECIFIED';
  attributes: Record<string, unknown>;
}

/** The client's trace the call is made under. */
export const CLIENT_TRACE = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
};

/** A gateway with the lab upstream exporting every request's spans to `endpoint`. */
export function startTracedGateway(issuer: TestIssuer, endpoint: string): Promise<GatewayProcess> {
  return startGatewayProcess({
    issuer,
    bundle: buildFixturePolicy('allow-all'),
    upstreams: { lab: labServer() },
    extra: {
      telemetry: {
        tracing: {
          enabled: true,
          endpoint,
          allow_insecure_http: true,
          service_name: 'mcpgate-e2e',
          export_interval_s: 0.2,
        },
      },
    },
  });
}

/**
 * Calls lab__meta under CLIENT_TRACE and checks what the upstream got: the same trace,
 * under a span of the gateway's, with tracestate and baggage as the client sent them.
 * Resolves to the span id the upstream was given as its parent.
 */
export async function callUnderClientTrace(client: Client): Promise<string> {
  const { traceId, spanId } = CLIENT_TRACE;
  const result = (await client.callTool({
    name: 'lab__meta',
    arguments: {},
    _meta: {
      traceparent: `00-${traceId}-${spanId}-01`,
      tracestate: 'vendor=abc',
      baggage: 'user=alice',
    },
  })) as CallToolResult;
  const upstreamMeta = JSON.parse(textOf(result)) as Record<string, string>;
  const [version, upstreamTrace, upstreamParent, flags] = upstreamMeta.traceparent!.split('-');
  expect([version, upstreamTrace, flags]).toEqual(['00', traceId, '01']);
  expect(upstreamParent).not.toBe(spanId);
  expect(upstreamMeta.tracestate).toBe('vendor=abc');
  expect(upstreamMeta.baggage).toBe('user=alice');
  return upstreamParent!;
}

/**
 * The trace of that call: the SERVER span under the client's span, the gateway's steps and
 * the CLIENT span under it, the upstream's parent exactly the CLIENT span, and the
 * decision-log line naming the trace and the SERVER span (as OPA's do).
 */
export async function expectToolCallTrace(
  spans: ReceivedSpan[],
  upstreamParent: string,
  gateway: GatewayProcess,
): Promise<void> {
  const { traceId, spanId } = CLIENT_TRACE;
  const server = spans.find((s) => s.name === 'tools/call lab__meta');
  expect(server).toBeDefined();
  expect(server).toMatchObject({ kind: 'SERVER', traceId, parentSpanId: spanId });
  expect(server!.attributes).toMatchObject({
    'mcp.method.name': 'tools/call',
    'gen_ai.tool.name': 'lab__meta',
    'gen_ai.operation.name': 'execute_tool',
    'mcp.session.id': expect.stringMatching(/^s/),
    'jsonrpc.request.id': expect.any(String),
    'mcpgate.decision': 'allow',
    'mcpgate.upstream': 'lab',
  });

  const children = spans.filter((s) => s.parentSpanId === server!.spanId);
  expect(children.map((s) => s.name).sort()).toEqual(
    [
      'gen_ai.guardrail arguments',
      'gen_ai.guardrail result',
      'mcpgate.authenticate',
      'mcpgate.policy.evaluate',
      'mcpgate.session_store.load',
      'mcpgate.session_store.record',
      'tools/call meta',
    ].sort(),
  );
  const upstreamCall = children.find((s) => s.name === 'tools/call meta')!;
  expect(upstreamCall).toMatchObject({ kind: 'CLIENT', traceId, spanId: upstreamParent });
  expect(upstreamCall.attributes).toMatchObject({
    'mcpgate.upstream': 'lab',
    'gen_ai.tool.name': 'meta',
  });

  const lines = (await gateway.auditText())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const call = lines.find(
    (l) => (l.input as { action?: string } | undefined)?.action === 'tools/call',
  );
  expect(call).toMatchObject({ trace_id: traceId, span_id: server!.spanId });
}
