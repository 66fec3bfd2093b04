// OpenTelemetry traces of the requests the gateway serves (off by default): one SERVER span
// per decided MCP request, named `{mcp.method.name} {target}`, with child spans for the
// gateway's own steps (authentication, session store, policy evaluation, decision log,
// guardrails) and a CLIENT span for the upstream call, exported over OTLP/HTTP in batches.
//
// No context manager and no AsyncLocalStorage: a request's spans hang off its
// RequestTrace, handed on explicitly with the request (its promise hooks would cost CPU on
// every promise of the process). The parent comes from the W3C trace context the client
// sent (params._meta first, else the HTTP headers); the upstream gets the CLIENT span's.
// Sampling is parent-based with a ratio for new traces; a request that is not sampled
// makes no child spans at all.
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
import { ExportResultCode, parseTraceParent, TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
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

/** Counts what the exporter sent and what it failed to send. */
class CountingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly counters: TracingCounters | undefined,
  ) {}

  export(
    spans: ReadableSpan[],
    done: (result: { code: ExportResultCode; error?: Error }) => void,
  ): void {
    this.inner.export(spans, (result) => {
      this.counters?.exported(
        result.code === ExportResultCode.SUCCESS ? 'success' : 'failure',
        spans.length,
      );
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
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
    const exporter = new OTLPTraceExporter({
      url: config.endpoint,
      headers,
      timeoutMillis: config.exportTimeoutMs,
    });
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': service.name,
        'service.version': service.version,
        'service.instance.id': service.instance,
      }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new CountingExporter(exporter, counters),
          maxQueueSize: config.maxQueueSpans,
          maxExportBatchSize: Math.min(512, config.maxQueueSpans),
          scheduledDelayMillis: config.exportIntervalMs,
          exportTimeoutMillis: config.exportTimeoutMs,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('mcpgate', service.version);
  }

  /**
   * The SERVER span of one request, a child of the client's trace context when it sent one.
   * `start` is a performance.now() reading (the HTTP request's arrival).
   */
  startRequest(
    name: string,
    incoming: TraceCarrier | undefined,
    attributes: Attributes,
    start: number | undefined,
  ): RequestTrace {
    const parent = remoteParent(incoming);
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

function remoteParent(incoming: TraceCarrier | undefined): Context {
  if (incoming === undefined) return ROOT_CONTEXT;
  const parsed = parseTraceParent(incoming.traceparent);
  if (parsed === null) return ROOT_CONTEXT;
  const context: SpanContext = { ...parsed, isRemote: true };
  if (incoming.tracestate !== undefined) context.traceState = new TraceState(incoming.tracestate);
  return trace.setSpanContext(ROOT_CONTEXT, context);
}
