// Traces with a real OTLP receiver: Jaeger v1.75.0 (built from the Go module proxy into
// .tools/bin by scripts/install-jaeger.sh; in-memory storage, every port on loopback) receives
// the gateway's spans of one tools/call over OTLP/HTTP, and its query API gives them back:
// the SERVER span is a child of the client's traceparent, the gateway's steps and the
// CLIENT span are its children, the upstream got the CLIENT span's context in _meta, and
// the decision-log line carries the trace and span ids.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, textOf } from './support/client.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy, labServer } from './support/policies.js';
import { freePort } from './support/ports.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { waitFor } from './support/wait.js';

const JAEGER = process.env.JAEGER ?? join(ROOT, '.tools/bin/jaeger');

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; traceID: string; spanID: string }>;
  tags: Array<{ key: string; value: unknown }>;
}

function tag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}

describe('traces of a tools/call in a real Jaeger', () => {
  let issuer: TestIssuer;
  let jaeger: ChildProcess | undefined;
  let jaegerDir: string;
  let queryUrl: string;
  let gateway: GatewayProcess;
  let client: Client;

  beforeAll(async () => {
    if (!existsSync(JAEGER)) {
      throw new Error(
        `${JAEGER} is missing: the tracing test needs Jaeger; run scripts/setup.sh --observability ` +
          '(builds it with Go from the Go module proxy) or set JAEGER to a jaeger v2 binary',
      );
    }
    issuer = await startIssuer();
    const [otlpPort, queryPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
    jaegerDir = mkdtempSync(join(tmpdir(), 'mcpgate-jaeger-'));
    const config = join(jaegerDir, 'jaeger.yaml');
    writeFileSync(
      config,
      [
        'service:',
        '  extensions: [jaeger_storage, jaeger_query]',
        '  pipelines:',
        '    traces:',
        '      receivers: [otlp]',
        '      processors: [batch]',
        '      exporters: [jaeger_storage_exporter]',
        '  telemetry:',
        '    metrics:',
        '      level: none',
        '    logs:',
        '      level: warn',
        'extensions:',
        '  jaeger_query:',
        '    storage:',
        '      traces: memstore',
        '    http:',
        `      endpoint: 127.0.0.1:${queryPort}`,
        '    grpc:',
        `      endpoint: 127.0.0.1:${grpcPort}`,
        '  jaeger_storage:',
        '    backends:',
        '      memstore:',
        '        memory:',
        '          max_traces: 1000',
        'receivers:',
        '  otlp:',
        '    protocols:',
        '      http:',
        `        endpoint: 127.0.0.1:${otlpPort}`,
        'processors:',
        '  batch:',
        '    timeout: 100ms',
        'exporters:',
        '  jaeger_storage_exporter:',
        '    trace_storage: memstore',
        '',
      ].join('\n'),
    );
    jaeger = spawn(JAEGER, ['--config', config], { stdio: 'ignore' });
    queryUrl = `http://127.0.0.1:${queryPort}`;
    await waitFor(
      async () => ((await fetch(`${queryUrl}/api/services`)).ok ? true : undefined),
      'Jaeger to answer',
    );

    gateway = await startGatewayProcess({
      issuer,
      bundle: buildFixturePolicy('allow-all'),
      upstreams: { lab: labServer() },
      extra: {
        telemetry: {
          tracing: {
            enabled: true,
            endpoint: `http://127.0.0.1:${otlpPort}/v1/traces`,
            allow_insecure_http: true,
            service_name: 'mcpgate-e2e',
            export_interval_s: 0.2,
          },
        },
      },
    });
    client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
    if (jaeger && jaeger.exitCode === null) {
      const exited = new Promise<void>((r) => jaeger!.once('exit', () => r()));
      jaeger.kill('SIGTERM');
      await exited;
    }
    if (jaegerDir) rmSync(jaegerDir, { recursive: true, force: true });
    await issuer?.close();
  });

  it('receives the SERVER span with its children and the CLIENT span, under the client trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpanId = '00f067aa0ba902b7';
    const result = (await client.callTool({
      name: 'lab__meta',
      arguments: {},
      _meta: {
        traceparent: `00-${traceId}-${clientSpanId}-01`,
        tracestate: 'vendor=abc',
        baggage: 'user=alice',
      },
    })) as CallToolResult;
    const upstreamMeta = JSON.parse(textOf(result)) as Record<string, string>;
    // The upstream continues the trace under the gateway's CLIENT span.
    const [version, upstreamTrace, upstreamParent, flags] = upstreamMeta.traceparent!.split('-');
    expect([version, upstreamTrace, flags]).toEqual(['00', traceId, '01']);
    expect(upstreamParent).not.toBe(clientSpanId);
    expect(upstreamMeta.tracestate).toBe('vendor=abc');
    expect(upstreamMeta.baggage).toBe('user=alice');

    const spans = await waitFor(async () => {
      const res = await fetch(`${queryUrl}/api/traces/${traceId}`);
      if (!res.ok) return undefined;
      const body = (await res.json()) as { data: Array<{ spans: JaegerSpan[] }> };
      const found = body.data[0]?.spans ?? [];
      return found.some((s) => tag(s, 'span.kind') === 'client') ? found : undefined;
    }, 'Jaeger to have the trace with its CLIENT span');

    const server = spans.find((s) => s.operationName === 'tools/call lab__meta');
    expect(server).toBeDefined();
    expect(tag(server!, 'span.kind')).toBe('server');
    expect(server!.references).toEqual([
      expect.objectContaining({ refType: 'CHILD_OF', traceID: traceId, spanID: clientSpanId }),
    ]);
    expect(tag(server!, 'mcp.method.name')).toBe('tools/call');
    expect(tag(server!, 'gen_ai.tool.name')).toBe('lab__meta');
    expect(tag(server!, 'gen_ai.operation.name')).toBe('execute_tool');
    expect(tag(server!, 'mcp.session.id')).toEqual(expect.stringMatching(/^s/));
    expect(tag(server!, 'jsonrpc.request.id')).toEqual(expect.any(String));
    expect(tag(server!, 'mcpgate.decision')).toBe('allow');

    const childrenOf = (parent: JaegerSpan): JaegerSpan[] =>
      spans.filter((s) => s.references.some((r) => r.spanID === parent.spanID));
    const children = childrenOf(server!);
    expect(children.map((s) => s.operationName).sort()).toEqual(
      [
        'mcpgate.authenticate',
        'mcpgate.policy.evaluate',
        'mcpgate.session_store.load',
        'mcpgate.session_store.record',
        'tools/call meta',
      ].sort(),
    );
    const upstreamCall = children.find((s) => s.operationName === 'tools/call meta')!;
    expect(tag(upstreamCall, 'span.kind')).toBe('client');
    expect(tag(upstreamCall, 'mcpgate.upstream')).toBe('lab');
    expect(tag(upstreamCall, 'gen_ai.tool.name')).toBe('meta');
    // The upstream's parent is exactly the CLIENT span.
    expect(upstreamCall.spanID).toBe(upstreamParent);

    // The decision-log line names the trace and the SERVER span, as OPA's do.
    const lines = (await gateway.auditText())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const call = lines.find(
      (l) => (l.input as { action?: string } | undefined)?.action === 'tools/call',
    );
    expect(call).toMatchObject({ trace_id: traceId, span_id: server!.spanID });
  });
});
