// OTLP protobuf encoding of finished spans, one span at a time, as each ends: the bytes of
// an ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1) grow in one buffer
// and the SDK's span object can die young (the SDK's own serialiser needs the whole batch
// of span objects at once, so they lived until the export and were promoted by the GC).
// Room for the request's header (its resource and instrumentation scope) is kept at the
// front of the buffer and written when the batch is taken, so a batch is never copied.
//
// Written for what the gateway's spans hold (strings, ids, HrTime, a few attributes) and
// for the protobuf wire format only: field numbers are those of trace.proto and
// common.proto; the decoding is checked by the e2e tracing test, whose receiver uses the
// OpenTelemetry project's own definitions.
import {
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
} from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const TWO_32 = 4294967296;
const TWO_16 = 65536;
/** timeOfReading's HrTime, one array for every call (the writer is synchronous). */
const TIME_PARTS: [number, number] = [0, 0];

/** The value of each hex digit by its char code; -1 for any other character. */
const HEX_DIGIT = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[97 + i] = 10 + i;
    table[65 + i] = 10 + i;
  }
  return table;
})();

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Span flags (trace.proto SpanFlags): the trace flags, and whether the parent is remote. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** Bytes kept free at the front of a batch for the request's header. */
function headerRoom(resourceAndScope: number): number {
  // Three tags and three lengths of at most five bytes each around it.
  return resourceAndScope + 3 * 6;
}

/** Appends protobuf fields to a growing byte buffer. */
class ProtoWriter {
  buf: Uint8Array;
  private view: DataView;
  pos: number;
  private readonly utf8 = new TextEncoder();

  /** `reuse`: a buffer of at least `capacity` bytes to write into instead of a new one. */
  constructor(capacity: number, start = 0, reuse?: Uint8Array) {
    this.buf = reuse !== undefined && reuse.length >= capacity ? reuse : new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.pos = start;
  }

  ensure(bytes: number): void {
    const needed = this.pos + bytes;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  /** A tag (field numbers below 2048: at most two bytes). */
  tag(field: number, wire: number): void {
    this.ensure(2);
    this.varint((field << 3) | wire);
  }

  /** A non-negative integer below 2^53. */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 128) {
      buf[pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** A signed integer as int64 (negative ones take ten bytes, as protobuf says). */
  int64(n: number): void {
    if (n >= 0) {
      this.varint(n);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(n));
    this.ensure(10);
    while (v >= 128n) {
      this.buf[this.pos++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  /** Starts a length-delimited field's body, `reserve` bytes kept for its length. */
  open(field: number, reserve: number): number {
    this.tag(field, WIRE_LENGTH);
    this.ensure(reserve);
    const start = this.pos;
    this.pos += reserve;
    return start;
  }

  /** Writes the length of the body opened at `start`, moving the body when it needs more room. */
  close(start: number, reserve: number): void {
    const length = this.pos - start - reserve;
    const size = varintSize(length);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(start + size, start + reserve, this.pos);
      this.pos += size - reserve;
    }
    const end = this.pos;
    this.pos = start;
    this.varint(length);
    this.pos = end;
  }

  string(field: number, value: string): void {
    const n = value.length;
    this.tag(field, WIRE_LENGTH);
    // Assumed ASCII (every name and id the gateway makes is): one byte a character.
    const lengthAt = this.pos;
    this.ensure(5 + n);
    this.varint(n);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 128) {
        this.pos = lengthAt;
        this.utf8String(value);
        return;
      }
      buf[pos++] = c;
    }
    this.pos = pos;
  }

  private utf8String(value: string): void {
    const bytes = Buffer.byteLength(value, 'utf8');
    this.ensure(5 + bytes);
    this.varint(bytes);
    this.utf8.encodeInto(value, this.buf.subarray(this.pos, this.pos + bytes));
    this.pos += bytes;
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_LENGTH);
    this.ensure(5 + value.length);
    this.varint(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** `length` bytes of `from` at `offset`, as a bytes field. */
  bytesOf(field: number, from: Uint8Array, offset: number, length: number): void {
    this.tag(field, WIRE_LENGTH);
    this.ensure(1 + length);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = length;
    // A copy loop: ids are 8 or 16 bytes, less than a subarray view costs to make.
    for (let i = 0; i < length; i++) buf[pos++] = from[offset + i]!;
    this.pos = pos;
  }

  /** A trace or span id given in hex, as its bytes. */
  hexId(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.tag(field, WIRE_LENGTH);
    this.ensure(1 + n);
    this.buf[this.pos++] = n;
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) {
      const high = HEX_DIGIT[hex.charCodeAt(2 * i) & 127]!;
      const low = HEX_DIGIT[hex.charCodeAt(2 * i + 1) & 127]!;
      buf[pos++] = ((high << 4) | low) & 255;
    }
    this.pos = pos;
  }

  fixed32(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    this.view.setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  double(field: number, value: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** An HrTime as fixed64 nanoseconds since the epoch (exact: past 2^53, so in two halves). */
  time(field: number, time: HrTime): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    const seconds = time[0];
    // seconds * 1e9 = (secondsHigh * 1e9) * 2^16 + secondsLow * 1e9, each part exact.
    const secondsHigh = Math.floor(seconds / TWO_16);
    const secondsLow = seconds - secondsHigh * TWO_16;
    const scaled = secondsHigh * 1e9;
    const scaledLow16 = scaled % TWO_16;
    const low = scaledLow16 * TWO_16 + secondsLow * 1e9 + time[1];
    const carry = Math.floor(low / TWO_32);
    this.view.setUint32(this.pos, low - carry * TWO_32, true);
    this.view.setUint32(this.pos + 4, (scaled - scaledLow16) / TWO_16 + carry, true);
    this.pos += 8;
  }

  /**
   * A time given as a performance.now() reading, in Unix nanoseconds as fixed64: `anchorMs`
   * is the Unix time in milliseconds of reading 0 as the request's SERVER span has it (the
   * SDK anchors each span to Date.now() when it starts; a child anchored to its parent
   * never starts before it). Split into whole seconds and nanoseconds first: nanoseconds
   * since 1970 exceed a double's exact integers.
   */
  timeOfReading(field: number, reading: number, anchorMs: number): void {
    const epochMs = anchorMs + reading;
    const seconds = Math.floor(epochMs / 1000);
    const nanos = Math.min(999_999_999, Math.round((epochMs - seconds * 1000) * 1e6));
    TIME_PARTS[0] = seconds;
    TIME_PARTS[1] = nanos;
    this.time(field, TIME_PARTS);
  }

  /** AnyValue (common.proto): string 1, bool 2, int 3, double 4, array 5, bytes 7. */
  anyValue(value: unknown): void {
    switch (typeof value) {
      case 'string':
        this.string(1, value);
        return;
      case 'boolean':
        this.tag(2, WIRE_VARINT);
        this.varint(value ? 1 : 0);
        return;
      case 'number':
        if (Number.isSafeInteger(value)) {
          this.tag(3, WIRE_VARINT);
          this.int64(value);
        } else {
          this.double(4, value);
        }
        return;
      default:
        if (Array.isArray(value)) {
          const array = this.open(5, 2);
          for (const item of value as readonly unknown[]) {
            const entry = this.open(1, 1);
            this.anyValue(item);
            this.close(entry, 1);
          }
          this.close(array, 2);
        }
    }
  }

  /** repeated KeyValue (common.proto: key 1, value 2) as field `field`. */
  attributes(field: number, attributes: Attributes | undefined): void {
    if (attributes === undefined) return;
    for (const key in attributes) {
      if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
      const value = attributes[key];
      if (value === undefined) continue;
      const entry = this.open(field, 1);
      this.string(1, key);
      const any = this.open(2, 1);
      this.anyValue(value);
      this.close(any, 1);
      this.close(entry, 1);
    }
  }
}

/** Span.Event: time 1, name 2, attributes 3, dropped attributes 4. */
function writeEvent(w: ProtoWriter, event: TimedEvent): void {
  const start = w.open(11, 2);
  w.time(1, event.time);
  w.string(2, event.name);
  w.attributes(3, event.attributes);
  if (event.droppedAttributesCount) {
    w.tag(4, WIRE_VARINT);
    w.varint(event.droppedAttributesCount);
  }
  w.close(start, 2);
}

/** Span.Link: trace id 1, span id 2, trace state 3, attributes 4, flags 6. */
function writeLink(w: ProtoWriter, link: Link): void {
  const start = w.open(13, 2);
  const context = link.context;
  w.hexId(1, context.traceId);
  w.hexId(2, context.spanId);
  const state = context.traceState?.serialize();
  if (state) w.string(3, state);
  w.attributes(4, link.attributes);
  w.fixed32(6, spanFlags(context, context.isRemote));
  w.close(start, 2);
}

function spanFlags(context: SpanContext, remoteParent: boolean | undefined): number {
  return (context.traceFlags & 0xff) | HAS_IS_REMOTE | (remoteParent === true ? IS_REMOTE : 0);
}

/** Sent batches' buffers kept for the next ones (two may be on their way at once). */
const SPARE_BUFFERS = 2;

/** The resource and instrumentation scope of every span of a batch. */
export interface SpanHeader {
  readonly resource: { readonly attributes: Attributes };
  readonly instrumentationScope: { readonly name: string; readonly version?: string };
}

/**
 * What a stage span takes from its parent, the request's SERVER span, worked out once a
 * request: the trace id (16 bytes) then the parent's span id (8 bytes), the trace state,
 * and the span's flags (the parent's trace flags; the parent is local).
 */
export interface StageParent {
  readonly ids: Uint8Array;
  readonly traceState: string | undefined;
  readonly flags: number;
}

/** `bytes` bytes of `hex` (valid ids: the SDK's or the pool's) into `out` at `at`. */
function hexInto(out: Uint8Array, at: number, hex: string, bytes: number): void {
  for (let i = 0; i < bytes; i++) {
    const high = HEX_DIGIT[hex.charCodeAt(2 * i) & 127]!;
    const low = HEX_DIGIT[hex.charCodeAt(2 * i + 1) & 127]!;
    out[at + i] = ((high << 4) | low) & 255;
  }
}

/** A stage span's id: 8 bytes of a pool of random ones, from `at`. */
export interface StageSpanId {
  readonly pool: Uint8Array;
  readonly at: number;
}

/** The StageParent of stage spans under the span `context`. */
export function stageParentOf(context: SpanContext): StageParent {
  const ids = new Uint8Array(24);
  hexInto(ids, 0, context.traceId, 16);
  hexInto(ids, 16, context.spanId, 8);
  const state = context.traceState?.serialize();
  return { ids, traceState: state ? state : undefined, flags: spanFlags(context, false) };
}

/** A stage span's start and end (performance.now() readings) and their anchor (timeOfReading). */
export interface StageTimes {
  readonly start: number;
  readonly end: number;
  readonly anchorMs: number;
}

/** What a stage span says besides its times: one attribute, and a failure's status. */
export interface StageSpanOutcome {
  /** mcpgate.decision (value deny) or error.type. */
  readonly attribute: string;
  readonly value: string;
  /** Set for a failure: the span's status is ERROR with this message. */
  readonly errorMessage?: string;
}

/**
 * One batch of spans in OTLP protobuf, appended as they end; `take` gives the whole
 * ExportTraceServiceRequest and starts the next batch.
 */
export class OtlpSpanBatch {
  private writer: ProtoWriter | undefined;
  /** Resource (field 1 of ResourceSpans) and scope (field 1 of ScopeSpans), encoded once. */
  private resourceField: Uint8Array | undefined;
  private scopeField: Uint8Array | undefined;
  private room = 0;
  /** Spans in the batch. */
  count = 0;

  /**
   * @param header the resource and instrumentation scope, for a batch whose first span is
   *   a stage span (no SDK span to read them from); absent, the first span's are used.
   */
  constructor(
    private readonly initialBytes: number,
    private readonly header?: SpanHeader,
  ) {}

  /** Bytes in the batch so far. */
  get size(): number {
    return this.writer === undefined ? 0 : this.writer.pos - this.room;
  }

  /** `extra`: attributes the gateway kept for the span itself (TracedSpan), after the SDK's. */
  append(span: ReadableSpan, extra?: Attributes): void {
    const w = (this.writer ??= this.start(this.header ?? span));
    const context = span.spanContext();
    // ScopeSpans.spans is field 2; a span's body is a few hundred bytes (two length bytes).
    const start = w.open(2, 2);
    w.hexId(1, context.traceId);
    w.hexId(2, context.spanId);
    const state = context.traceState?.serialize();
    if (state) w.string(3, state);
    const parent = span.parentSpanContext;
    if (parent?.spanId) w.hexId(4, parent.spanId);
    w.string(5, span.name);
    // trace.proto's SpanKind is the API's plus one (0 is UNSPECIFIED).
    w.tag(6, WIRE_VARINT);
    w.varint(span.kind + 1);
    w.time(7, span.startTime);
    w.time(8, span.endTime);
    w.attributes(9, span.attributes);
    if (extra !== undefined) w.attributes(9, extra);
    if (span.droppedAttributesCount > 0) {
      w.tag(10, WIRE_VARINT);
      w.varint(span.droppedAttributesCount);
    }
    for (const event of span.events) writeEvent(w, event);
    if (span.droppedEventsCount > 0) {
      w.tag(12, WIRE_VARINT);
      w.varint(span.droppedEventsCount);
    }
    for (const link of span.links) writeLink(w, link);
    if (span.droppedLinksCount > 0) {
      w.tag(14, WIRE_VARINT);
      w.varint(span.droppedLinksCount);
    }
    if (span.status.code !== SpanStatusCode.UNSET) {
      // Status: message 2, code 3.
      const status = w.open(15, 1);
      if (span.status.message) w.string(2, span.status.message);
      w.tag(3, WIRE_VARINT);
      w.varint(span.status.code);
      w.close(status, 1);
    }
    w.fixed32(16, spanFlags(context, parent?.isRemote));
    w.close(start, 2);
    this.count++;
  }

  /**
   * A gateway stage's span (INTERNAL, a child of `parent`, the request's SERVER span),
   * encoded from what it is without an SDK span object: what append writes for the same
   * span made by the SDK (the unit test decodes both).
   * `start` and `end` are performance.now() readings, `anchorMs` the Unix time of reading
   * 0 (timeOfReading); a denial is the mcpgate.decision attribute, a failure error.type
   * and an error status.
   */
  appendStage(
    parent: StageParent,
    spanId: StageSpanId,
    name: string,
    times: StageTimes,
    outcome: StageSpanOutcome | undefined,
  ): void {
    if (this.header === undefined) throw new Error('a stage span needs the batch header');
    const w = (this.writer ??= this.start(this.header));
    const spanStart = w.open(2, 2);
    w.bytesOf(1, parent.ids, 0, 16);
    w.bytesOf(2, spanId.pool, spanId.at, 8);
    if (parent.traceState !== undefined) w.string(3, parent.traceState);
    w.bytesOf(4, parent.ids, 16, 8);
    w.string(5, name);
    w.tag(6, WIRE_VARINT);
    w.varint(SpanKind.INTERNAL + 1);
    w.timeOfReading(7, times.start, times.anchorMs);
    w.timeOfReading(8, times.end, times.anchorMs);
    if (outcome !== undefined) {
      // KeyValue: key 1, value 2 (AnyValue).
      const attribute = w.open(9, 1);
      w.string(1, outcome.attribute);
      const value = w.open(2, 1);
      w.string(1, outcome.value);
      w.close(value, 1);
      w.close(attribute, 1);
      if (outcome.errorMessage !== undefined) {
        const status = w.open(15, 1);
        if (outcome.errorMessage) w.string(2, outcome.errorMessage);
        w.tag(3, WIRE_VARINT);
        w.varint(SpanStatusCode.ERROR);
        w.close(status, 1);
      }
    }
    w.fixed32(16, parent.flags);
    w.close(spanStart, 2);
    this.count++;
  }

  /**
   * Hands back the buffer of a body `take` gave, once it is sent: the next batch writes
   * into it (a batch's buffer is a few hundred KB; a new one for each, zeroed and counted
   * as external memory, made the garbage collector run more often).
   */
  release(body: Uint8Array): void {
    const buffer = new Uint8Array(body.buffer);
    if (this.spare.length < SPARE_BUFFERS && buffer.length >= this.room + this.initialBytes) {
      this.spare.push(buffer);
    }
  }

  private readonly spare: Uint8Array[] = [];

  /**
   * The batch as one ExportTraceServiceRequest (resource_spans 1 → resource 1, scope_spans
   * 2 → scope 1, spans 2), a view into a buffer of its own; undefined when it is empty.
   */
  take(): Uint8Array | undefined {
    const w = this.writer;
    if (w === undefined || this.count === 0) return undefined;
    const spans = w.pos - this.room;
    const scopeSpans = this.scopeField!.length + spans;
    const resourceSpans = this.resourceField!.length + 1 + varintSize(scopeSpans) + scopeSpans;
    const header = 1 + varintSize(resourceSpans) + this.resourceField!.length;
    const scopeHeader = 1 + varintSize(scopeSpans) + this.scopeField!.length;
    // The header is written right before the spans, in the room kept for it.
    const first = this.room - header - scopeHeader;
    const end = w.pos;
    w.pos = first;
    w.tag(1, WIRE_LENGTH);
    w.varint(resourceSpans);
    w.buf.set(this.resourceField!, w.pos);
    w.pos += this.resourceField!.length;
    w.tag(2, WIRE_LENGTH);
    w.varint(scopeSpans);
    w.buf.set(this.scopeField!, w.pos);
    const body = w.buf.subarray(first, end);
    this.writer = undefined;
    this.count = 0;
    return body;
  }

  /** A new batch's buffer; the resource and scope are encoded from the first span ever. */
  private start(span: SpanHeader): ProtoWriter {
    if (this.resourceField === undefined || this.scopeField === undefined) {
      const field = new ProtoWriter(256);
      // Resource: attributes 1.
      const resource = field.open(1, 2);
      field.attributes(1, span.resource.attributes);
      field.close(resource, 2);
      this.resourceField = field.buf.slice(0, field.pos);
      const scope = new ProtoWriter(64);
      // InstrumentationScope: name 1, version 2.
      const scoped = scope.open(1, 1);
      scope.string(1, span.instrumentationScope.name);
      if (span.instrumentationScope.version) scope.string(2, span.instrumentationScope.version);
      scope.close(scoped, 1);
      this.scopeField = scope.buf.slice(0, scope.pos);
      this.room = headerRoom(this.resourceField.length + this.scopeField.length);
    }
    return new ProtoWriter(this.room + this.initialBytes, this.room, this.spare.pop());
  }
}
