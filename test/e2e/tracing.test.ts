// Traces with a real OTLP receiver started by the test: test/python/otlp_receiver.py decodes
// the gateway's OTLP/HTTP protobuf with the OpenTelemetry project's own definitions (the
// opentelemetry-proto package in .tools/python-mcp, scripts/install-python-client.sh) and
// gives back what it received. One tools/call under a client trace must arrive with the
// right parent/child structure (support/traced-call.ts); the same checks run against a real
// Jaeger in the opt-in tracing-jaeger.opt-in.ts. A receiver that is down costs the gateway
// nothing but the spans, which it counts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
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

const PYTHON = join(ROOT, '.tools/python-mcp/bin/python');
const RECEIVER = join(ROOT, 'test/python/otlp_receiver.py');

interface Received {
  spans: Array<ReceivedSpan & { service: string }>;
  rejected: number;
}

describe('traces of a tools/call in an OTLP receiver', () => {
  let issuer: TestIssuer;
  let receiver: ChildProcess | undefined;
  let receiverUrl: string;
  let gateway: GatewayProcess;
  let client: Client;

  const received = async (): Promise<Received> =>
    (await (await fetch(`${receiverUrl}/spans`)).json()) as Received;

  beforeAll(async () => {
    if (!existsSync(PYTHON)) {
      throw new Error(
        `${PYTHON} is missing: the tracing test's OTLP receiver needs it; run ` +
          '`bash scripts/install-python-client.sh` (needs python3 >= 3.11 with venv)',
      );
    }
    issuer = await startIssuer();
    const port = await freePort();
    receiverUrl = `http://127.0.0.1:${port}`;
    receiver = spawn(PYTHON, [RECEIVER, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH ?? '', PYTHONDONTWRITEBYTECODE: '1' },
    });
    await waitFor(
      async () => ((await fetch(`${receiverUrl}/spans`)).ok ? true : undefined),
      'the OTLP receiver to answer',
    );
    gateway = await startTracedGateway(issuer, `${receiverUrl}/v1/traces`);
    client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
    if (receiver) await exitProcess(receiver, 'SIGTERM');
    await issuer?.close();
  });

  it('receives the SERVER span with its children and the CLIENT span, under the client trace', async () => {
    const upstreamParent = await callUnderClientTrace(client);
    const { spans, rejected } = await waitFor(async () => {
      const got = await received();
      const ofTrace = got.spans.filter((s) => s.traceId === CLIENT_TRACE.traceId);
      return ofTrace.some((s) => s.kind === 'CLIENT') ? { ...got, spans: ofTrace } : undefined;
    }, 'the receiver to have the trace with its CLIENT span');
    // Every export was a well-formed ExportTraceServiceRequest in protobuf.
    expect(rejected).toBe(0);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['mcpgate-e2e']));
    await expectToolCallTrace(spans, upstreamParent, gateway);
  });

  it("traces what an upstream asks inside the call it asks during, under that call's CLIENT span", async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await client.callTool({
      name: 'lab__ask',
      arguments: { kind: 'roots' },
      _meta: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    const spans = await waitFor(async () => {
      const ofTrace = (await received()).spans.filter((s) => s.traceId === traceId);
      return ofTrace.some((s) => s.name === 'roots/list') ? ofTrace : undefined;
    }, 'the SERVER span of the upstream asking for roots');
    const upstreamCall = spans.find((s) => s.name === 'tools/call ask');
    expect(upstreamCall).toMatchObject({ kind: 'CLIENT' });
    expect(spans.find((s) => s.name === 'roots/list')).toMatchObject({
      kind: 'SERVER',
      parentSpanId: upstreamCall!.spanId,
      attributes: expect.objectContaining({ 'mcpgate.upstream': 'lab' }),
    });
  });

  it('gives a request the client did not trace a trace of its own, with the list as one SERVER span', async () => {
    await client.listTools();
    const list = await waitFor(async () => {
      const { spans } = await received();
      return spans.find((s) => s.name === 'tools/list');
    }, 'the SERVER span of tools/list');
    expect(list).toMatchObject({ kind: 'SERVER', parentSpanId: '' });
    expect(list.traceId).not.toBe(CLIENT_TRACE.traceId);
    const { spans } = await received();
    const children = spans.filter((s) => s.parentSpanId === list.spanId).map((s) => s.name);
    expect(children).toContain('mcpgate.policy.visible');
    expect(children).not.toContain('tools/list');
  });
});
