// OpenTelemetry traces of the requests the gateway serves (off by default): one SERVER span
// per decided MCP request, named `{mcp.method.name} {target}`, with child spans for the
// gateway's own steps (authentication, session store, policy evaluation, decision log,
// guardrails) and a CLIENT span for the upstream call, exported over OTLP/HTTP (protobuf)
// in batches, sent from a worker thread.
//
// No context manager and no AsyncLocalStorage: a request's spans hang off its
// RequestTrace, handed on explicitly with the request (its promise hooks would cost CPU on
// every promise of the process). The parent comes from the W3C trace context the client
// sent (params._meta first, else the HTTP headers); the upstream gets the CLIENT span's.
// Sampling is parent-based with a ratio for new traces, decided before any span exists: a
// request that is not sampled gets no spans at all (and passes the client's trace context
// on unchanged), so at a low ratio nearly every request costs one random number.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { Worker } from 'node:worker_threads';
import { ExportResultCode, parseTraceParent, TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { TracingConfig } from '../config/telemetry.js';
import { readValue } from '../config/secrets.js';
import { ATTR } from './span-names.js';

/** W3C trace context as it travels: in `_meta` and in HTTP headers, under the same names. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
  baggage?: string;
}

/** performance.now() readings of a traced HTTP request before its MCP method runs. */
export interface Arrival {
  /** The request arrived (its listener was called). */
  at: number;
  /** Authentication finished. */
  authenticated: number;
  /** Around the session load from the store (requests that name a session). */
  loadStart?: number;
  loadEnd?: number;
}

/** Reads the trace context of one carrier (an object of strings, or absent ones). */
export function carrierOf(
  source: Readonly<Record<string, unknown>> | undefined,
): TraceCarrier | undefined {
  const traceparent = source?.traceparent;
  if (typeof traceparent !== 'string') return undefined;
  const carrier: TraceCarrier = { traceparent };
  const { tracestate, baggage } = source!;
  if (typeof tracestate === 'string') carrier.tracestate = tracestate;
  if (typeof baggage === 'string') carrier.baggage = baggage;
  return carrier;
}

/** The `traceparent` of a span context. */
export function traceparentOf(context: SpanContext): string {
  const flags = (context.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
  return `00-${context.traceId}-${context.spanId}-${flags}`;
}

/** A span the chain opens around one stage. */
export interface StageSpan {
  /** Ends the span; a `{deny}` outcome is noted on it. */
  end(outcome?: unknown): void;
  /** Ends the span as failed. */
  fail(error: unknown): void;
}

const NO_STAGE_SPAN: StageSpan = { end: () => undefined, fail: () => undefined };

export interface TracingCounters {
  exported(result: 'success' | 'failure', spans: number): void;
}

/** One request's spans: its SERVER span, the stage spans, the CLIENT span of the upstream call. */
export class RequestTrace {
  private readonly parent: Context;
  private client: Span | undefined;

  constructor(
    private readonly tracing: Tracing,
    readonly server: Span,
  ) {
    this.parent = trace.setSpan(ROOT_CONTEXT, server);
  }

  /** False when the request was not sampled: then no child span is made. */
  get recording(): boolean {
    return this.server.isRecording();
  }

  /** The trace and span ids the decision log carries (OPA's trace_id and span_id). */
  ids(): { traceId: string; spanId: string } {
    const { traceId, spanId } = this.server.spanContext();
    return { traceId, spanId };
  }

  startChild(name: string, attributes?: Attributes): StageSpan {
    if (!this.recording) return NO_STAGE_SPAN;
    const span = this.tracing.tracer.startSpan(
      name,
      { kind: SpanKind.INTERNAL, attributes },
      this.parent,
    );
    return {
      end(outcome?: unknown) {
        if (typeof outcome === 'object' && outcome !== null && 'deny' in outcome) {
          span.setAttribute(ATTR.decision, 'deny');
        }
        span.end();
      },
      fail(error: unknown) {
        failSpan(span, error);
        span.end();
      },
    };
  }

  /** A child span of a step that is over already (authentication, the session load). */
  addFinished(name: string, start: number, end: number): void {
    if (!this.recording) return;
    this.tracing.tracer
      .startSpan(name, { kind: SpanKind.INTERNAL, startTime: start }, this.parent)
      .end(end);
  }

  /** Starts the CLIENT span of the upstream call; the upstream gets its trace context. */
  startClient(name: string, attributes: Attributes): Span {
    this.client = this.tracing.tracer.startSpan(
      name,
      { kind: SpanKind.CLIENT, attributes },
      this.parent,
    );
    return this.client;
  }

  /**
   * The trace context the upstream gets: the CLIENT span's when there is one, else the
   * SERVER span's (a request that is not sampled still passes its trace on).
   */
  upstreamCarrier(baggage: string | undefined): TraceCarrier {
    const context = (this.client ?? this.server).spanContext();
    const carrier: TraceCarrier = { traceparent: traceparentOf(context) };
    const state = context.traceState?.serialize();
    if (state) carrier.tracestate = state;
    if (baggage !== undefined) carrier.baggage = baggage;
    return carrier;
  }
}

/** Marks a span failed with the error's type (its stable code when it has one). */
export function failSpan(span: Span, error: unknown): void {
  const type =
    (error as { code?: unknown } | undefined)?.code !== undefined
      ? String((error as { code: unknown }).code)
      : error instanceof Error
        ? error.name
        : 'error';
  span.setAttribute(ATTR.errorType, type);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

type ExportCallback = (result: { code: ExportResultCode; error?: Error }) => void;

/**
 * OTLP/HTTP with protobuf bodies: serialised here (cheaper than JSON, a third of its bytes),
 * sent by a worker thread (telemetry/otlp-worker.ts), so the requests and their buffers cost
 * the serving thread nothing. Counts what was sent and what failed.
 */
class WorkerOtlpExporter implements SpanExporter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { done: ExportCallback; spans: number }>();
  private nextId = 0;

  constructor(
    sender: { url: string; headers: Record<string, string>; timeoutMs: number },
    private readonly counters: TracingCounters | undefined,
  ) {
    this.worker = new Worker(new URL('./otlp-worker.js', import.meta.url), { workerData: sender });
    // The worker never keeps the process alive; a request in flight at exit is lost.
    this.worker.unref();
    this.worker.on('message', (reply: { id: number; ok: boolean; error?: string }) => {
      const job = this.pending.get(reply.id);
      if (job === undefined) return;
      this.pending.delete(reply.id);
      this.settle(job, reply.ok ? undefined : new Error(reply.error));
    });
    this.worker.on('error', (err: Error) => {
      for (const job of this.pending.values()) this.settle(job, err);
      this.pending.clear();
    });
  }

  private settle(job: { done: ExportCallback; spans: number }, error: Error | undefined): void {
    this.counters?.exported(error === undefined ? 'success' : 'failure', job.spans);
    job.done(
      error === undefined
        ? { code: ExportResultCode.SUCCESS }
        : { code: ExportResultCode.FAILED, error },
    );
  }

  export(spans: ReadableSpan[], done: ExportCallback): void {
    const body = ProtobufTraceSerializer.serializeRequest(spans);
    if (body === undefined) {
      this.settle({ done, spans: spans.length }, new Error('spans could not be serialised'));
      return;
    }
    const id = this.nextId++;
    this.pending.set(id, { done, spans: spans.length });
    // Transferred, not copied (a body of its own: the serialiser gives a fresh array).
    this.worker.postMessage({ id, body }, [body.buffer as ArrayBuffer]);
  }

  async shutdown(): Promise<void> {
    // The exports still in flight get their answers (bounded by the request timeout).
    const deadline = Date.now() + 5000;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.worker.terminate();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

export class Tracing {
  private readonly provider: TracerProvider;
  readonly tracer;

  constructor(
    config: TracingConfig,
    service: { name: string; version: string; instance: string },
    counters?: TracingCounters,
  ) {
    if (config.endpoint === undefined) throw new Error('tracing needs an OTLP endpoint');
    const headers: Record<string, string> = {};
    for (const [name, source] of Object.entries(config.headers)) {
      headers[name] = readValue(source, `telemetry.tracing.headers.${name}`);
    }
    const exporter = new WorkerOtlpExporter(
      { url: config.endpoint, headers, timeoutMs: config.exportTimeoutMs },
      counters,
    );
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': service.name,
        'service.version': service.version,
        'service.instance.id': service.instance,
      }),
      // Sampled already (startRequest): what reaches the SDK is recorded.
      sampler: new AlwaysOnSampler(),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          maxQueueSize: config.maxQueueSpans,
          maxExportBatchSize: Math.min(512, config.maxQueueSpans),
          scheduledDelayMillis: config.exportIntervalMs,
          exportTimeoutMillis: config.exportTimeoutMs,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('mcpgate', service.version);
    this.ratio = config.sampleRatio;
  }

  private readonly ratio: number;

  /**
   * Whether a request is traced, decided before anything else is done for its trace: its
   * parent context when it is, undefined when not. Parent-based: a valid client context
   * decides by its sampled flag, anything else by `sample_ratio`.
   */
  sample(incoming: TraceCarrier | undefined): Context | undefined {
    const parentContext = incoming === undefined ? null : parseTraceParent(incoming.traceparent);
    const sampled =
      parentContext === null
        ? this.ratio >= 1 || Math.random() < this.ratio
        : (parentContext.traceFlags & TraceFlags.SAMPLED) !== 0;
    return sampled ? remoteParent(parentContext, incoming?.tracestate) : undefined;
  }

  /**
   * The SERVER span of a sampled request (`parent` from sample()). `start` is a
   * performance.now() reading (the HTTP request's arrival).
   */
  startRequest(
    name: string,
    parent: Context,
    attributes: Attributes,
    start: number | undefined,
  ): RequestTrace {
    const span = this.tracer.startSpan(
      name,
      { kind: SpanKind.SERVER, attributes, ...(start === undefined ? {} : { startTime: start }) },
      parent,
    );
    return new RequestTrace(this, span);
  }

  /** Exports what is queued, then stops. */
  async close(): Promise<void> {
    await this.provider.shutdown();
  }
}

function remoteParent(parsed: SpanContext | null, tracestate: string | undefined): Context {
  if (parsed === null) return ROOT_CONTEXT;
  const context: SpanContext = { ...parsed, isRemote: true };
  if (tracestate !== undefined) context.traceState = new TraceState(tracestate);
  return trace.setSpanContext(ROOT_CONTEXT, context);
}
