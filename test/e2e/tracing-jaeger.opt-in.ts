// Opt-in (`npm run test:jaeger`, not part of `npm test`): the traces of a tools/call in a
// real Jaeger v1.75.0, built from the Go module proxy into .tools/bin by
// scripts/install-jaeger.sh (most of an hour on a fresh machine, so CI does not build it;
// docs/testing.md). Jaeger receives the gateway's spans over OTLP/HTTP with in-memory
// storage and every port on loopback, and its query API gives them back; the checks are
// those of the default tracing test (support/traced-call.ts).
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient } from './support/client.js';
import { ROOT, type GatewayProcess } from './support/gateway.js';
import { freePort } from './support/ports.js';
import {
  callUnderClientTrace,
  CLIENT_TRACE,
  expectToolCallTrace,
  startTracedGateway,
  type ReceivedSpan,
} from './support/traced-call.js';
import { exitProcess } from '../support/exit-process.js';
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

/** Jaeger's form of a span in the tests' common one (its kind is the tag span.kind). */
function received(span: JaegerSpan): ReceivedSpan {
  const attributes = Object.fromEntries(span.tags.map((t) => [t.key, t.value]));
  const spanKind = attributes['span.kind'];
  const kind = (typeof spanKind === 'string' ? spanKind : 'internal').toUpperCase();
  return {
    traceId: span.traceID,
    spanId: span.spanID,
    parentSpanId: span.references.find((r) => r.refType === 'CHILD_OF')?.spanID ?? '',
    name: span.operationName,
    kind: kind as ReceivedSpan['kind'],
    attributes,
  };
}

describe('traces of a tools/call in a real Jaeger', () => {
  let issuer: TestIssuer;
  let jaeger: ChildProcess | undefined;
  let jaegerDir: string;
  let queryUrl: string;
  let otlpUrl: string;
  let gateway: GatewayProcess;
  let client: Client;

  beforeAll(async () => {
    if (!existsSync(JAEGER)) {
      throw new Error(
        `${JAEGER} is missing: the Jaeger tracing test needs it; run scripts/setup.sh --jaeger ` +
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
    otlpUrl = `http://127.0.0.1:${otlpPort}/v1/traces`;
    await waitFor(
      async () => ((await fetch(`${queryUrl}/api/services`)).ok ? true : undefined),
      'Jaeger to answer',
    );
    gateway = await startTracedGateway(issuer, otlpUrl);
    client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
    if (jaeger) await exitProcess(jaeger, 'SIGTERM');
    if (jaegerDir) rmSync(jaegerDir, { recursive: true, force: true });
    await issuer?.close();
  });

  it('receives the SERVER span with its children and the CLIENT span, under the client trace', async () => {
    const upstreamParent = await callUnderClientTrace(client);
    const spans = await waitFor(async () => {
      const res = await fetch(`${queryUrl}/api/traces/${CLIENT_TRACE.traceId}`);
      if (!res.ok) return undefined;
      const body = (await res.json()) as { data: Array<{ spans: JaegerSpan[] }> };
      const found = (body.data[0]?.spans ?? []).map(received);
      return found.some((s) => s.kind === 'CLIENT') ? found : undefined;
    }, 'Jaeger to have the trace with its CLIENT span');
    await expectToolCallTrace(spans, upstreamParent, gateway);
  });
});
