// The gateway's OTLP protobuf encoder against the OpenTelemetry SDK's own serialiser: the
// same SDK spans encoded both ways must decode, with the OpenTelemetry project's protobuf
// definitions (Python's opentelemetry-proto, as the e2e receiver uses), to the same
// ExportTraceServiceRequest. The spans cover what the encoder handles: every attribute
// type, non-ASCII text, a remote parent with tracestate, an error status, an event, a link,
// and bodies long enough to need two- and three-byte lengths and a grown buffer. And the
// export: full batches sent at once, the rest on close, spans past the queue dropped.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  TracerProvider,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { OtlpSpanBatch, stageParentOf } from '../../src/telemetry/otlp-encoder.js';
import { Tracing } from '../../src/telemetry/tracing.js';

const ROOT = join(import.meta.dirname, '../../..');
const PYTHON = join(ROOT, '.tools/python-mcp/bin/python');

/** Decodes ExportTraceServiceRequest bodies (hex, one a line) to JSON with the official definitions. */
const DECODE = `
import json, sys
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
out = []
for line in sys.stdin.read().split():
    request = ExportTraceServiceRequest()
    request.ParseFromString(bytes.fromhex(line))
    out.append(MessageToDict(request, preserving_proto_field_name=True))
print(json.dumps(out))
`;

function decode(bodies: Uint8Array[]): unknown[] {
  if (!existsSync(PYTHON)) {
    throw new Error(`${PYTHON} is missing: run scripts/setup.sh --clients (opentelemetry-proto)`);
  }
  const run = spawnSync(PYTHON, ['-c', DECODE], {
    input: bodies.map((b) => Buffer.from(b).toString('hex')).join('\n'),
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`decoding failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as unknown[];
}

/** MessageToDict leaves out default values, except an empty status message: the same. */
function withoutEmptyStatus(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) =>
    key === 'status' && typeof v === 'object' && v !== null && Object.keys(v).length === 0
      ? undefined
      : v,
  );
}

/** An SDK tracer whose ended spans are kept in `spans`. */
function recordingTracer(): { tracer: Tracer; spans: ReadableSpan[] } {
  const spans: ReadableSpan[] = [];
  const keep: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span) => void spans.push(span),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'mcpgate-test', 'service.version': '1' }),
    sampler: new AlwaysOnSampler(),
    spanProcessors: [keep],
  });
  return { tracer: provider.getTracer('mcpgate', '0.1.0'), spans };
}

function recordedSpans(): ReadableSpan[] {
  const { tracer, spans } = recordingTracer();
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=value,other=x'),
  });
  const server = tracer.startSpan(
    'tools/call lab__echo',
    {
      kind: SpanKind.SERVER,
      startTime: [1_765_000_000, 123_456_789],
      attributes: {
        'mcp.method.name': 'tools/call',
        'jsonrpc.request.id': '7',
        'an.int': 42,
        'a.negative.int': -3,
        'a.big.int': 2 ** 40 + 5,
        'a.double': 0.25,
        'a.bool': true,
        'a.false': false,
        strings: ['a', 'bé', ''],
        numbers: [1, 2.5],
        'non.ascii': 'grüße, 日本, 🙂',
      },
    },
    parent,
  );
  const child = trace.setSpan(ROOT_CONTEXT, server);
  tracer
    .startSpan('mcpgate.authenticate', { startTime: [1_765_000_000, 999_999_999] }, child)
    .end([1_765_000_001, 1]);
  const failed = tracer.startSpan('x'.repeat(200), { kind: SpanKind.CLIENT }, child);
  failed.setAttribute('error.type', 'ERR_UPSTREAM');
  failed.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream refused: ünavailable' });
  failed.addEvent('retry', { attempt: 2 }, [1_765_000_002, 5]);
  failed.addLink({
    context: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0 },
    attributes: { why: 'caused by' },
  });
  failed.end();
  // A span of about 20 KB: three-byte lengths, and more than the batch's first buffer.
  const big = tracer.startSpan('big', {}, child);
  for (let i = 0; i < 40; i++) big.setAttribute(`attribute.${i}`, 'v'.repeat(500));
  big.end();
  const ok = tracer.startSpan('ok', {}, child);
  ok.setStatus({ code: SpanStatusCode.OK });
  ok.end();
  server.end([1_765_000_003, 0]);
  return spans;
}

describe('OTLP protobuf encoding of spans', () => {
  it('decodes as the SDK serialiser’s encoding of the same spans does', () => {
    const spans = recordedSpans();
    const batch = new OtlpSpanBatch(64);
    for (const span of spans) batch.append(span);
    expect(batch.count).toBe(spans.length);
    const ours = batch.take();
    expect(ours).toBeDefined();
    expect(batch.count).toBe(0);
    const sdk = ProtobufTraceSerializer.serializeRequest(spans)!;
    const [fromOurs, fromSdk] = decode([ours!, sdk]);
    expect(withoutEmptyStatus(fromOurs)).toEqual(withoutEmptyStatus(fromSdk));
    // Not vacuous: the spans are there, with their attributes and times.
    const decoded = fromOurs as {
      resource_spans: Array<{
        scope_spans: Array<{ spans: Array<Record<string, unknown>> }>;
      }>;
    };
    const got = decoded.resource_spans[0]!.scope_spans[0]!.spans;
    expect(got).toHaveLength(5);
    expect(got.find((s) => s.name === 'mcpgate.authenticate')).toMatchObject({
      start_time_unix_nano: '1765000000999999999',
      end_time_unix_nano: '1765000001000000001',
    });
  });

  it('starts a new request after each take, and gives nothing for an empty batch', () => {
    const spans = recordedSpans();
    const batch = new OtlpSpanBatch(1024);
    expect(batch.take()).toBeUndefined();
    batch.append(spans[0]!);
    const first = batch.take()!;
    batch.append(spans[1]!);
    batch.append(spans[2]!);
    const second = batch.take()!;
    const [a, b] = decode([first, second]) as Array<{
      resource_spans: Array<{ scope_spans: Array<{ spans: unknown[] }> }>;
    }>;
    expect(a!.resource_spans[0]!.scope_spans[0]!.spans).toHaveLength(1);
    expect(b!.resource_spans[0]!.scope_spans[0]!.spans).toHaveLength(2);
    expect(withoutEmptyStatus(b)).toEqual(
      withoutEmptyStatus(decode([ProtobufTraceSerializer.serializeRequest(spans.slice(1, 3))!])[0]),
    );
  });
});

describe('stage spans, encoded without an SDK span', () => {
  it('decode as the SDK serialiser’s encoding of the same spans made by the SDK', () => {
    const { tracer, spans } = recordingTracer();
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
      traceState: new TraceState('vendor=value'),
    });
    // performance.now() readings, as the gateway's stages take them.
    const t0 = performance.now() - 5;
    const server = tracer.startSpan(
      'tools/call lab__echo',
      { kind: SpanKind.SERVER, startTime: t0 - 1 },
      remote,
    );
    const parent = server.spanContext();
    const under = trace.setSpan(ROOT_CONTEXT, server);
    // Reading 0 in Unix ms as the SERVER span has it (RequestTrace does the same).
    const [seconds, nanos] = (server as unknown as ReadableSpan).startTime;
    const anchorMs = seconds * 1000 + nanos / 1e6 - (t0 - 1);
    const cases = [
      { name: 'mcpgate.authenticate', start: t0, end: t0 + 0.0123, outcome: undefined },
      {
        name: 'mcpgate.policy.evaluate',
        start: t0 + 1,
        end: t0 + 1.5,
        outcome: { attribute: 'mcpgate.decision', value: 'deny' },
      },
      {
        name: 'gen_ai.guardrail result',
        start: t0 + 2,
        end: t0 + 4.25,
        outcome: {
          attribute: 'error.type',
          value: 'ERR_INSPECTION_REFUSED',
          errorMessage: 'too deep: ünavailable',
        },
      },
    ];
    const sdkSpans: ReadableSpan[] = [];
    const batch = new OtlpSpanBatch(64, {
      resource: resourceFromAttributes({ 'service.name': 'mcpgate-test', 'service.version': '1' }),
      instrumentationScope: { name: 'mcpgate', version: '0.1.0' },
    });
    for (const c of cases) {
      const made = tracer.startSpan(c.name, { kind: SpanKind.INTERNAL, startTime: c.start }, under);
      if (c.outcome !== undefined) made.setAttribute(c.outcome.attribute, c.outcome.value);
      if (c.outcome?.errorMessage !== undefined) {
        made.setStatus({ code: SpanStatusCode.ERROR, message: c.outcome.errorMessage });
      }
      made.end(c.end);
      sdkSpans.push(spans.at(-1)!);
      const times = { start: c.start, end: c.end, anchorMs };
      const id = { pool: Buffer.from(made.spanContext().spanId, 'hex'), at: 0 };
      batch.appendStage(stageParentOf(parent), id, c.name, times, c.outcome);
    }
    const [ours, sdk] = decode([
      batch.take()!,
      ProtobufTraceSerializer.serializeRequest(sdkSpans)!,
    ]).map(withoutEmptyStatus) as Array<{
      resource_spans: Array<{ scope_spans: Array<{ spans: Array<Record<string, unknown>> }> }>;
    }>;
    const times = (d: typeof ours) =>
      d!.resource_spans[0]!.scope_spans[0]!.spans.map((span) => {
        const { start_time_unix_nano: a, end_time_unix_nano: b, ...rest } = span;
        return { rest, start: BigInt(a as string), end: BigInt(b as string) };
      });
    const got = times(ours);
    const want = times(sdk);
    expect(got.map((x) => x.rest)).toEqual(want.map((x) => x.rest));
    expect(got).toHaveLength(3);
    // Our times are the readings on the SERVER span's anchor (to a microsecond); the SDK
    // anchors each span anew to Date.now(), a millisecond clock: within two of ours.
    const unixNs = (reading: number): bigint => BigInt(Math.round((anchorMs + reading) * 1e6));
    got.forEach((x, i) => {
      const c = cases[i]!;
      const w = want[i]!;
      for (const [ns, reading] of [
        [x.start, c.start],
        [x.end, c.end],
      ] as const) {
        expect(Math.abs(Number(ns - unixNs(reading)))).toBeLessThan(1000);
      }
      expect(Math.abs(Number(x.start - w.start))).toBeLessThan(2_000_000);
      expect(Math.abs(Number(x.end - w.end))).toBeLessThan(2_000_000);
    });
    // Not vacuous: the parent is the SERVER span, the denial and the failure are there.
    expect(got[1]!.rest).toMatchObject({
      parent_span_id: Buffer.from(parent.spanId, 'hex').toString('base64'),
      kind: 'SPAN_KIND_INTERNAL',
      attributes: [{ key: 'mcpgate.decision', value: { string_value: 'deny' } }],
    });
    expect(got[2]!.rest).toMatchObject({
      status: { code: 'STATUS_CODE_ERROR', message: 'too deep: ünavailable' },
    });
  });

  it('are refused by a batch that was given no resource and scope', () => {
    expect(() =>
      new OtlpSpanBatch(64).appendStage(
        stageParentOf({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 }),
        { pool: new Uint8Array(8), at: 0 },
        'x',
        { start: 0, end: 1, anchorMs: Date.now() },
        undefined,
      ),
    ).toThrow('a stage span needs the batch header');
  });
});

describe('OTLP export of the spans', () => {
  /** A receiver on loopback: answers every POST (or none), counting what it got. */
  async function receiver(answer: boolean): Promise<{
    url: string;
    bodies: Buffer[];
    close: () => Promise<void>;
  }> {
    const bodies: Buffer[] = [];
    const held: ServerResponse[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        if (answer) res.writeHead(200).end();
        else held.push(res);
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/v1/traces`,
      bodies,
      close: async () => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        await new Promise((done) => server.close(done));
      },
    };
  }

  function tracingTo(url: string, maxQueueSpans: number, counted: Map<string, number>): Tracing {
    return new Tracing(
      {
        enabled: true,
        endpoint: url,
        headers: {},
        sampleRatio: 1,
        serviceName: 'mcpgate-test',
        maxQueueSpans,
        exportIntervalMs: 60_000,
        exportTimeoutMs: 5_000,
      },
      { name: 'mcpgate-test', version: '1', instance: 'i' },
      { exported: (result, spans) => counted.set(result, (counted.get(result) ?? 0) + spans) },
    );
  }

  function traceCalls(tracing: Tracing, calls: number): void {
    for (let i = 0; i < calls; i++) {
      const trace = tracing.startRequest('tools/call t', tracing.sample(undefined)!, {}, undefined);
      trace.startChild('mcpgate.policy.evaluate').end();
      trace.server.end();
    }
  }

  it('sends full batches at once and the rest when it closes, every span counted', async () => {
    const sink = await receiver(true);
    const counted = new Map<string, number>();
    const tracing = tracingTo(sink.url, 64, counted);
    // Batches of 32 (half the queue): 16 calls of two spans fill one, sent at once.
    for (let batch = 1; batch <= 3; batch++) {
      traceCalls(tracing, 16);
      await waitUntil(() => counted.get('success') === 32 * batch);
    }
    traceCalls(tracing, 2);
    expect(sink.bodies).toHaveLength(3);
    await tracing.close();
    expect(sink.bodies).toHaveLength(4);
    expect(counted).toEqual(new Map([['success', 100]]));
    const decoded = decode(sink.bodies) as Array<{
      resource_spans: Array<{ scope_spans: Array<{ spans: unknown[] }> }>;
    }>;
    expect(decoded.map((d) => d.resource_spans[0]!.scope_spans[0]!.spans.length)).toEqual([
      32, 32, 32, 4,
    ]);
    await sink.close();
  });

  it('drops and counts spans past max_queue_spans while the receiver does not answer', async () => {
    const sink = await receiver(false);
    const counted = new Map<string, number>();
    const tracing = tracingTo(sink.url, 64, counted);
    traceCalls(tracing, 100);
    // 64 wait (two batches sent, unanswered); the other 136 are dropped.
    expect(counted).toEqual(new Map([['dropped', 136]]));
    await waitUntil(() => sink.bodies.length === 2);
    await sink.close();
    await tracing.close();
    expect(counted.get('failure')).toBe(64);
  });
});

async function waitUntil(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
