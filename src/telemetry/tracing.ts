// OpenTelemetry traces of the requests the gateway serves (off by default): one SERVER span
// per decided MCP request, named `{mcp.method.name} {target}`, with child spans for the
// gateway's own steps (authentication, session store, policy evaluation, decision log,
// guardrails) and a CLIENT span for the upstream call, exported over OTLP/HTTP (protobuf)
// in batches, each span encoded as it ends.
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
import { randomFillSync } from 'node:crypto';
import { parseTraceParent, TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  TracerProvider,
  type IdGenerator,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { TracingConfig } from '../config/telemetry.js';
import { readValue } from '../config/secrets.js';
import {
  OtlpSpanBatch,
  stageParentOf,
  type SpanHeader,
  type StageParent,
  type StageSpanId,
  type StageSpanOutcome,
  type StageTimes,
} from './otlp-encoder.js';
import { OtlpSender, type OtlpSenderConfig } from './otlp-sender.js';
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

/**
 * A stage's span: its start reading, encoded into the export batch when it ends
 * (OtlpSpanBatch.appendStage), with no SDK span object. A traced tools/call has six of
 * these and two SDK spans (SERVER, CLIENT). With eight SDK spans (attribute cleaning,
 * contexts, HrTime arrays, a SpanImpl each) tracing cost 13-15 µs a call in process; with
 * two, about 8 (bench/tools/telemetry-micro.mjs).
 */
class StageChild implements StageSpan {
  private readonly start = performance.now();

  constructor(
    private readonly trace: RequestTrace,
    private readonly name: string,
  ) {}

  end(outcome?: unknown): void {
    const denied = typeof outcome === 'object' && outcome !== null && 'deny' in outcome;
    this.trace.exportStage(this.name, this.start, performance.now(), denied ? DENIED : undefined);
  }

  fail(error: unknown): void {
    this.trace.exportStage(this.name, this.start, performance.now(), {
      attribute: ATTR.errorType,
      value: errorType(error),
      errorMessage: error instanceof Error ? error.message : String(error),
    });
  }
}

const DENIED: StageSpanOutcome = { attribute: ATTR.decision, value: 'deny' };

/** exportStage's times, one object for every span (the encoding is synchronous). */
const STAGE_TIMES: { start: number; end: number; anchorMs: number } = {
  start: 0,
  end: 0,
  anchorMs: 0,
};

export interface TracingCounters {
  exported(result: 'success' | 'failure' | 'dropped', spans: number): void;
}

/**
 * An SDK span (SERVER or CLIENT) whose attributes the gateway keeps itself, in a plain
 * object handed to the encoder when the span ends: the SDK checks every attribute it is
 * given with a new WeakSet per value (isAnyValue), 3 KB a traced call by an allocation
 * profile, and weak collections cost the collector more; the gateway's attributes are
 * strings it made.
 */
export class TracedSpan {
  constructor(
    private readonly tracing: Tracing,
    readonly span: Span,
    private readonly attributes: Record<string, string>,
  ) {}

  setAttribute(key: string, value: string): void {
    this.attributes[key] = value;
  }

  /** Marks the span failed with the error's type (its stable code when it has one). */
  fail(error: unknown): void {
    this.attributes[ATTR.errorType] = errorType(error);
    this.span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  }

  /** Ends the span; its attributes go to the export with it. */
  end(): void {
    this.tracing.endSpan(this.span, this.attributes);
  }

  spanContext(): SpanContext {
    return this.span.spanContext();
  }

  isRecording(): boolean {
    return this.span.isRecording();
  }
}

/** One request's spans: its SERVER span, the stage spans, the CLIENT span of the upstream call. */
export class RequestTrace {
  private readonly parent: Context;
  private client: TracedSpan | undefined;

  /** Unix milliseconds of performance.now() reading 0, as the SERVER span's start has it. */
  private readonly anchorMs: number;
  /** The SERVER span's ids as its stage spans write them, made with the first one. */
  private stageParent: StageParent | undefined;

  /** `start`: the performance.now() reading the SERVER span started at. */
  constructor(
    private readonly tracing: Tracing,
    readonly server: TracedSpan,
    start: number,
  ) {
    this.parent = trace.setSpan(ROOT_CONTEXT, server.span);
    // The SDK's spans are ReadableSpans: the start it worked out from the reading.
    const [seconds, nanos] = (server.span as unknown as ReadableSpan).startTime;
    this.anchorMs = seconds * 1000 + nanos / 1e6 - start;
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

  /** A stage's span, from now until it ends (a child of the SERVER span). */
  startChild(name: string): StageSpan {
    if (!this.recording) return NO_STAGE_SPAN;
    return new StageChild(this, name);
  }

  /** A child span of a step that is over already (authentication, the session load). */
  addFinished(name: string, start: number, end: number): void {
    if (!this.recording) return;
    this.exportStage(name, start, end, undefined);
  }

  /** Encodes a finished stage span for export (StageChild and addFinished). */
  exportStage(
    name: string,
    start: number,
    end: number,
    outcome: StageSpanOutcome | undefined,
  ): void {
    const times = STAGE_TIMES;
    times.start = start;
    times.end = end;
    times.anchorMs = this.anchorMs;
    this.stageParent ??= stageParentOf(this.server.spanContext());
    this.tracing.exportStage(this.stageParent, name, times, outcome);
  }

  /** Starts the CLIENT span of the upstream call; the upstream gets its trace context. */
  startClient(name: string, attributes: Record<string, string>): TracedSpan {
    const span = this.tracing.tracer.startSpan(name, { kind: SpanKind.CLIENT }, this.parent);
    this.client = new TracedSpan(this.tracing, span, attributes);
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

/** error.type of a failure: its stable code when it has one, else its class name. */
function errorType(error: unknown): string {
  return (error as { code?: unknown } | undefined)?.code !== undefined
    ? String((error as { code: unknown }).code)
    : error instanceof Error
      ? error.name
      : 'error';
}

/**
 * The export of finished spans, OTLP/HTTP with protobuf bodies: each span is encoded as it
 * ends (telemetry/otlp-encoder.ts), so no span object waits for its batch; a batch is sent
 * (telemetry/otlp-sender.ts) when it holds `batchSpans` spans or `intervalMs` after its
 * first one. At most `maxQueueSpans` spans wait (encoded, or sent and not yet answered);
 * past that, spans are dropped and counted. Counts what was sent and what failed.
 */
class OtlpExportProcessor implements SpanProcessor {
  private readonly sender: OtlpSender;
  private batch: OtlpSpanBatch;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    sender: OtlpSenderConfig,
    private readonly limits: { batchSpans: number; maxQueueSpans: number; intervalMs: number },
    private readonly counters: TracingCounters | undefined,
    private readonly header: SpanHeader,
  ) {
    this.batch = this.newBatch();
    this.sender = new OtlpSender(sender);
  }

  private newBatch(): OtlpSpanBatch {
    return new OtlpSpanBatch(this.limits.batchSpans * SPAN_BYTES, this.header);
  }

  onStart(): void {}

  /** The attributes of the span being ended by Tracing.endSpan (set only around its end). */
  ending: Attributes | undefined;

  onEnd(span: ReadableSpan): void {
    if (!this.admit()) return;
    this.batch.append(span, this.ending);
    this.appended();
  }

  /** A stage span (RequestTrace.exportStage), queued as onEnd queues an SDK span. */
  appendStage(
    parent: StageParent,
    spanId: StageSpanId,
    name: string,
    times: StageTimes,
    outcome: StageSpanOutcome | undefined,
  ): void {
    if (!this.admit()) return;
    this.batch.appendStage(parent, spanId, name, times, outcome);
    this.appended();
  }

  /** Whether one more span may wait; counted as dropped when not. */
  private admit(): boolean {
    if (this.stopped) return false;
    if (this.inFlight + this.batch.count >= this.limits.maxQueueSpans) {
      this.counters?.exported('dropped', 1);
      return false;
    }
    return true;
  }

  private appended(): void {
    if (this.batch.count >= this.limits.batchSpans) this.send();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.send(), this.limits.intervalMs);
      this.timer.unref();
    }
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const spans = this.batch.count;
    const body = this.batch.take();
    if (body === undefined) return;
    this.inFlight += spans;
    this.sender.post(body, (error) => {
      this.inFlight -= spans;
      this.counters?.exported(error === undefined ? 'success' : 'failure', spans);
      // Written and answered: its buffer can take the next batch. (After a failure the
      // request may have been destroyed mid-write: that buffer is left to the collector.)
      if (error === undefined) this.batch.release(body);
    });
  }

  /** Sends what is encoded and waits for the answers (bounded by the request timeout). */
  async forceFlush(): Promise<void> {
    this.send();
    const deadline = Date.now() + 5000;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    this.stopped = true;
    this.sender.close();
  }
}

/**
 * Trace and span ids from a pool of random bytes: one `randomFillSync` and one hex
 * conversion per POOL_BYTES bytes (512 span ids), each id a slice of that string (the
 * SDK's generator makes each from Math.random through a Buffer and its own hex conversion,
 * a few hundred nanoseconds an id, and a traced call needs eight).
 */
class PooledIdGenerator implements IdGenerator {
  private hex = '';
  private at = 0;

  /** `chars` hex digits (16 or 32: whole 8-byte words of the pool). */
  private take(chars: number): string {
    if (this.at + chars > this.hex.length) {
      this.hex = randomPool().toString('hex');
      this.at = 0;
    }
    const id = this.hex.slice(this.at, this.at + chars);
    this.at += chars;
    return id;
  }

  generateTraceId(): string {
    return this.take(32);
  }

  generateSpanId(): string {
    return this.take(16);
  }
}

const POOL_BYTES = 8192;

/**
 * Stage span ids, 8 bytes at a time from a pool of random bytes (randomPool): the pool and
 * where the id starts, one object rewritten for each (the encoder copies the id at once).
 */
class StageIdPool implements StageSpanId {
  pool = randomPool();
  at = -8;

  next(): StageSpanId {
    this.at += 8;
    if (this.at + 8 > POOL_BYTES) {
      this.pool = randomPool();
      this.at = 0;
    }
    return this;
  }
}

/**
 * Random bytes of which no 8-byte word is all zeros: an id of zeros is invalid, and every
 * id is one or two whole words (checked here once a pool, not once an id).
 */
function randomPool(): Buffer {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  for (;;) {
    randomFillSync(pool);
    let zeroWord = false;
    for (let i = 0; i < POOL_BYTES && !zeroWord; i += 8) {
      zeroWord = pool.readUInt32LE(i) === 0 && pool.readUInt32LE(i + 4) === 0;
    }
    if (!zeroWord) return pool;
  }
}

/** The instrumentation scope of every span. */
const SCOPE = 'mcpgate';

/** A traced call's span in OTLP protobuf is about 150–250 bytes: a batch's first buffer. */
const SPAN_BYTES = 256;
/** Spans in one export request at most (about 250 KB). */
const MAX_BATCH_SPANS = 1024;

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
    const resource = resourceFromAttributes({
      'service.name': service.name,
      'service.version': service.version,
      'service.instance.id': service.instance,
    });
    const processor = new OtlpExportProcessor(
      { url: config.endpoint, headers, timeoutMs: config.exportTimeoutMs },
      {
        // Half the queue, so a batch can fill while the one before is on its way.
        batchSpans: Math.max(1, Math.min(MAX_BATCH_SPANS, Math.floor(config.maxQueueSpans / 2))),
        maxQueueSpans: config.maxQueueSpans,
        intervalMs: config.exportIntervalMs,
      },
      counters,
      { resource, instrumentationScope: { name: SCOPE, version: service.version } },
    );
    this.processor = processor;
    this.provider = new TracerProvider({
      resource,
      // Sampled already (startRequest): what reaches the SDK is recorded.
      sampler: new AlwaysOnSampler(),
      idGenerator: this.ids,
      spanProcessors: [processor],
    });
    this.tracer = this.provider.getTracer(SCOPE, service.version);
    this.ratio = config.sampleRatio;
  }

  private readonly processor: OtlpExportProcessor;
  /** The SDK's ids and the stage spans' ids, from one pool. */
  private readonly ids = new PooledIdGenerator();

  /**
   * Ends an SDK span with the attributes the gateway kept for it: the SDK calls the
   * processor's onEnd synchronously inside end(), which encodes them with the span.
   */
  endSpan(span: Span, attributes: Attributes): void {
    this.processor.ending = attributes;
    try {
      span.end();
    } finally {
      this.processor.ending = undefined;
    }
  }

  /** A finished stage span of the request whose SERVER span is `parent`, queued for export. */
  exportStage(
    parent: StageParent,
    name: string,
    times: StageTimes,
    outcome: StageSpanOutcome | undefined,
  ): void {
    this.processor.appendStage(parent, this.stageIds.next(), name, times, outcome);
  }

  /** The stage spans' ids, as bytes (never hex): 8 at a time from a pool of random bytes. */
  private readonly stageIds = new StageIdPool();

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
    attributes: Record<string, string>,
    start: number | undefined,
  ): RequestTrace {
    const startTime = start ?? performance.now();
    const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime }, parent);
    return new RequestTrace(this, new TracedSpan(this, span, attributes), startTime);
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
