// The MCP Streamable HTTP server transport, written against Node's own request and
// response objects. The SDK's StreamableHTTPServerTransport converts every request to a
// web-standard Request and every answer to a ReadableStream (through @hono/node-server),
// which cost more CPU per tools/call than the gateway's own work; this one writes to the
// socket directly.
//
// A POST is answered with application/json when its request produces nothing but its
// response (the common case), and switches to text/event-stream as soon as something
// related to the request must go first: a progress notification, or a request to the
// client (elicitation, sampling). Batches always stream. GET opens the session's one
// standalone stream (list_changed). Session and protocol-version headers are checked as
// the spec (2025-06-18 / 2025-11-25) and the SDK's transport check them, with the same
// status codes and messages.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isInitializeRequest,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import {
  CONNECTION_CLOSED,
  INVALID_REQUEST,
  PARSE_ERROR,
  SESSION_NOT_FOUND,
  TRANSPORT_REFUSED,
} from '../jsonrpc/codes.js';
import { answeredId, messageKind, type MessageKind } from '../jsonrpc/shape.js';
import { statelessErrorStatus } from './eras.js';

/** As the SDK: bounded so one POST cannot queue unbounded work. */
const MAX_BATCH_SIZE = 100;
/** As the SDK: a comment line on idle event streams, so proxies keep them open. */
const KEEP_ALIVE_MS = 15_000;
const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;
const SUPPORTED_VERSIONS = `supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`;
/** A POST's refusals, as the SDK's transport words them (the HTTP edge sends them too). */
export const UNSUPPORTED_MEDIA_TYPE =
  'Unsupported Media Type: Content-Type must be application/json';
export const NOT_ACCEPTABLE =
  'Not Acceptable: Client must accept both application/json and text/event-stream';

/** True when a POST's Accept header takes both JSON and an event stream. */
export function acceptsJsonAndStream(accept: string | undefined): boolean {
  return accept?.includes('application/json') === true && accept.includes('text/event-stream');
}

/**
 * A POST's event stream holds at most this many bytes the client has not read yet before
 * notifications on it (progress, list_changed) are dropped: a client that stops reading
 * must not make the gateway buffer without end. Answers are never dropped.
 */
export const MAX_UNREAD_STREAM_BYTES = 1024 * 1024;

/** What the transports of one gateway refused or dropped, for /readyz. */
export class TransportCounters {
  /** Requests refused because their session had max_requests_in_flight unanswered. */
  refusedInFlight = 0;
  /** Notifications dropped because the client was not reading its stream. */
  droppedNotifications = 0;
}

export interface HttpTransportOptions {
  /** The session this transport serves; undefined for one request of another replica's session. */
  sessionId: string | undefined;
  /** Requests of this session delivered and not yet answered, at most (default: no bound). */
  maxInFlight?: number;
  /** Where refusals and drops are counted. */
  counters?: TransportCounters;
  /**
   * Whether the gateway waits for the client's answer to this id (a request it sent the
   * client). A POST carrying an answer to anything else is refused (400). Without it, no
   * answer is awaited.
   */
  awaitsAnswer?: (id: RequestId) => boolean;
  /**
   * Serves one request of the stateless era (2026-07-28): its envelope and version were
   * checked by the caller (eras.ts), and an error answer gets that era's HTTP status.
   */
  stateless?: boolean;
}

/**
 * What the transport hands on with each message: the SDK's extra info (the request's
 * headers), and what the HTTP layer passed with this request (for the gateway: who is
 * calling, and the session as loaded for this request). The transport never looks inside
 * `context`; an SDK Server connected to this transport simply ignores it.
 */
export interface Delivery<C> extends MessageExtraInfo {
  readonly context?: C;
}

/** One response the transport still owes: a POST's answer, or the standalone GET stream. */
class Exchange {
  /** Request ids of this POST not answered yet. */
  readonly pending = new Set<RequestId>();
  private streaming = false;
  private ended = false;
  private keepAlive: NodeJS.Timeout | undefined;

  /** `onClosed` runs when the connection closes: answered, or dropped by the client. */
  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
    onClosed: () => void,
    private readonly counters: TransportCounters | undefined,
    private readonly stateless = false,
  ) {
    res.once('close', () => {
      clearInterval(this.keepAlive);
      this.ended = true;
      onClosed();
    });
  }

  get isStreaming(): boolean {
    return this.streaming;
  }

  get isEnded(): boolean {
    return this.ended || this.res.destroyed;
  }

  /** Switches to (or opens) an event stream; from now on every message is an event. */
  stream(): void {
    if (this.streaming || this.ended) return;
    this.streaming = true;
    this.res.writeHead(200, { ...SSE_HEADERS, ...this.headers });
    this.res.flushHeaders();
    this.keepAlive = setInterval(() => {
      // A stream the client is not reading needs no keep-alive comments piling up.
      if (!this.isEnded && this.res.writableLength === 0) this.res.write(': keepalive\n\n');
    }, KEEP_ALIVE_MS);
    this.keepAlive.unref();
  }

  /** Writes one message: an event when streaming, else the whole JSON answer. */
  write(message: JSONRPCMessage): void {
    if (this.isEnded) return;
    if (
      this.streaming &&
      isNotification(message) &&
      this.res.writableLength > MAX_UNREAD_STREAM_BYTES
    ) {
      // The client is not reading: a notification is dropped (and counted), never queued;
      // answers and the gateway's requests to the client are always written.
      if (this.counters) this.counters.droppedNotifications++;
      return;
    }
    const json = JSON.stringify(message);
    if (this.streaming) {
      this.res.write(`event: message\ndata: ${json}\n\n`);
      return;
    }
    this.ended = true;
    const head: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
    };
    // A loop, not a spread: this runs for every answer.
    for (const name in this.headers) head[name] = this.headers[name]!;
    const asked = httpAnswerOf(message);
    if (asked !== undefined) head['www-authenticate'] = asked.challenge;
    const status =
      asked?.status ??
      (this.stateless && 'error' in message ? statelessErrorStatus(message.error.code) : 200);
    this.res.writeHead(status, head);
    this.res.end(json);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepAlive);
    if (!this.res.headersSent) this.res.writeHead(200, { ...SSE_HEADERS, ...this.headers });
    this.res.end();
  }
}

/**
 * A JSON-RPC error whose `data` has this key asks for its own HTTP answer: `{status,
 * www_authenticate}` (a step-up: 401 or 403 with a WWW-Authenticate challenge). Honoured
 * when the error is the POST's whole answer; on an event stream, whose status is already
 * sent, the error goes as an event like any other.
 */
export const HTTP_ANSWER_KEY = 'mcpgate/http';

/** The status and challenge an error response asks for (see HTTP_ANSWER_KEY), if any. */
function httpAnswerOf(message: JSONRPCMessage): { status: number; challenge: string } | undefined {
  if (!('error' in message)) return undefined;
  const data = (message.error as { data?: unknown }).data;
  if (typeof data !== 'object' || data === null) return undefined;
  const answer = (data as Record<string, unknown>)[HTTP_ANSWER_KEY] as
    { status?: unknown; www_authenticate?: unknown } | undefined;
  if (
    (answer?.status !== 401 && answer?.status !== 403) ||
    typeof answer.www_authenticate !== 'string'
  ) {
    return undefined;
  }
  return { status: answer.status, challenge: answer.www_authenticate };
}

/** The refusal of a request beyond sessions.max_requests_in_flight (HTTP 429). */
export function tooManyInFlight(unanswered: number, max: number): string {
  return `Too Many Requests: this session has ${unanswered} requests unanswered and may have ${max} (sessions.max_requests_in_flight); wait for their answers`;
}

function isNotification(message: JSONRPCMessage): boolean {
  return 'method' in message && !('id' in message);
}

export class NodeStreamableHttpTransport<C = unknown> implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** Hears every request this transport refuses (status and message), for the gateway log. */
  onrefused?: (status: number, message: string) => void;
  onmessage?: (message: JSONRPCMessage, delivery?: Delivery<C>) => void;

  readonly sessionId: string | undefined;
  private started = false;
  private initialized = false;
  private closed = false;
  private handled = false;
  /** The POST each request in flight came in on: where its response and related messages go. */
  private readonly byRequest = new Map<RequestId, Exchange>();
  /**
   * Requests delivered and not yet answered, whether or not their POST is still open (a
   * client that drops the connection does not stop its request): what maxInFlight bounds.
   */
  private readonly unanswered = new Set<RequestId>();
  private readonly maxInFlight: number;
  private readonly counters: TransportCounters | undefined;
  private readonly awaitsAnswer: (id: RequestId) => boolean;
  private readonly stateless: boolean;
  private standalone: Exchange | undefined;
  /** Headers on every answer: the session id, once there is one. */
  private readonly answerHeaders: Record<string, string>;

  constructor(options: HttpTransportOptions) {
    this.sessionId = options.sessionId;
    this.maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
    this.counters = options.counters;
    this.awaitsAnswer = options.awaitsAnswer ?? (() => false);
    this.stateless = options.stateless === true;
    this.answerHeaders =
      options.sessionId === undefined ? {} : { 'mcp-session-id': options.sessionId };
  }

  start(): Promise<void> {
    if (this.started) return Promise.reject(new Error('Transport already started'));
    this.started = true;
    return Promise.resolve();
  }

  /**
   * Serves one HTTP request of this session; `body` is the JSON the body parser read, and
   * `context` goes with every message of this request to the dispatcher.
   */
  handleRequest(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    context?: C,
  ): Promise<void> {
    if (this.closed) {
      this.refuse(res, 404, SESSION_NOT_FOUND, 'Session not found');
      return Promise.resolve();
    }
    // A transport without a session serves exactly one request (its ids are the client's own).
    if (this.sessionId === undefined && this.handled) {
      return Promise.reject(new Error('a transport without a session serves one request only'));
    }
    this.handled = true;
    switch (req.method) {
      case 'POST':
        this.handlePost(req, res, body, context);
        break;
      case 'GET':
        this.handleGet(req, res);
        break;
      case 'DELETE':
        if (this.checkSession(req, res) && this.checkProtocolVersion(req, res)) {
          res.writeHead(200).end();
          return this.close();
        }
        break;
      default:
        res.setHeader('allow', 'GET, POST, DELETE');
        this.refuse(res, 405, TRANSPORT_REFUSED, 'Method not allowed.');
    }
    return Promise.resolve();
  }

  private handlePost(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    context: C | undefined,
  ): void {
    if (!acceptsJsonAndStream(req.headers.accept)) {
      this.refuse(res, 406, TRANSPORT_REFUSED, NOT_ACCEPTABLE);
      return;
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      this.refuse(res, 415, TRANSPORT_REFUSED, UNSUPPORTED_MEDIA_TYPE);
      return;
    }
    const batch = Array.isArray(body);
    const raw: unknown[] = batch ? body : [body];
    if (raw.length > MAX_BATCH_SIZE) {
      this.refuse(
        res,
        400,
        INVALID_REQUEST,
        `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`,
      );
      return;
    }
    const kinds: MessageKind[] = [];
    for (const message of raw) {
      const kind = messageKind(message);
      if (kind === undefined) {
        this.refuse(res, 400, PARSE_ERROR, 'Parse error: Invalid JSON-RPC message');
        return;
      }
      kinds.push(kind);
    }
    const messages = raw as JSONRPCMessage[];
    const initializing = messages.some(
      (m, i) =>
        kinds[i] === 'request' &&
        (m as { method: string }).method === 'initialize' &&
        isInitializeRequest(m),
    );
    if (initializing) {
      if (this.initialized && this.sessionId !== undefined) {
        this.refuse(res, 400, INVALID_REQUEST, 'Invalid Request: Server already initialized');
        return;
      }
      if (messages.length > 1) {
        this.refuse(
          res,
          400,
          INVALID_REQUEST,
          'Invalid Request: Only one initialization request is allowed',
        );
        return;
      }
      this.initialized = true;
    } else if (
      !this.stateless &&
      (!this.checkSession(req, res) || !this.checkProtocolVersion(req, res))
    ) {
      return;
    }

    if (!this.admit(res, messages, kinds)) return;
    if (!this.answersAwaited(res, messages, kinds)) return;

    // The request's headers as Node parsed them; no URL object is built (nothing reads it).
    const delivery: Delivery<C> = { requestInfo: { headers: req.headers }, context };
    if (!kinds.includes('request')) {
      // Only notifications and responses: accepted, nothing to answer.
      res.writeHead(202, this.answerHeaders).end();
      for (const message of messages) this.onmessage?.(message, delivery);
      return;
    }
    // A client that drops the connection before its answer leaves nothing behind.
    const exchange: Exchange = new Exchange(
      res,
      this.answerHeaders,
      () => this.forget(exchange),
      this.counters,
      this.stateless,
    );
    messages.forEach((m, i) => {
      if (kinds[i] === 'request') {
        const id = (m as { id: RequestId }).id;
        exchange.pending.add(id);
        this.byRequest.set(id, exchange);
        this.unanswered.add(id);
      }
    });
    // Several answers to one POST cannot share one JSON body as the spec's clients expect.
    if (batch) exchange.stream();
    for (const message of messages) this.onmessage?.(message, delivery);
  }

  /**
   * Refuses a POST whose requests reuse an id still unanswered in this session (the spec
   * forbids reusing ids; the first request's answer would go to the wrong POST), or would
   * take the session past maxInFlight unanswered requests.
   */
  private admit(res: ServerResponse, messages: JSONRPCMessage[], kinds: MessageKind[]): boolean {
    let requests = 0;
    const ids = new Set<RequestId>();
    for (let i = 0; i < messages.length; i++) {
      if (kinds[i] !== 'request') continue;
      requests++;
      const id = (messages[i] as { id: RequestId }).id;
      if (this.unanswered.has(id) || ids.has(id)) {
        this.refuse(
          res,
          400,
          INVALID_REQUEST,
          `Invalid Request: request id ${JSON.stringify(id)} is already in use in this session; give every request a new id`,
        );
        return false;
      }
      ids.add(id);
    }
    if (requests > 0 && this.unanswered.size + requests > this.maxInFlight) {
      if (this.counters) this.counters.refusedInFlight++;
      this.refuse(
        res,
        429,
        INVALID_REQUEST,
        tooManyInFlight(this.unanswered.size, this.maxInFlight),
      );
      return false;
    }
    return true;
  }

  /**
   * Refuses a POST carrying an answer to a request the gateway is not waiting for in this
   * session: one it never sent (or sent to another session), one already answered, one
   * that timed out or was withdrawn. Nothing of the POST is delivered.
   */
  private answersAwaited(
    res: ServerResponse,
    messages: JSONRPCMessage[],
    kinds: MessageKind[],
  ): boolean {
    for (let i = 0; i < messages.length; i++) {
      if (kinds[i] !== 'response' && kinds[i] !== 'error') continue;
      const id = answeredId(messages[i]!);
      if (id !== undefined && this.awaitsAnswer(id)) continue;
      this.refuse(
        res,
        400,
        INVALID_REQUEST,
        id === undefined
          ? 'Invalid Request: an error without an id answers no request of the gateway'
          : `Invalid Request: the gateway is not waiting for an answer to request id ${JSON.stringify(id)} in this session (never sent here, already answered, timed out or withdrawn)`,
      );
      return false;
    }
    return true;
  }

  private handleGet(req: IncomingMessage, res: ServerResponse): void {
    if (!req.headers.accept?.includes('text/event-stream')) {
      this.refuse(
        res,
        406,
        TRANSPORT_REFUSED,
        'Not Acceptable: Client must accept text/event-stream',
      );
      return;
    }
    if (!this.checkSession(req, res) || !this.checkProtocolVersion(req, res)) return;
    if (this.standalone && !this.standalone.isEnded) {
      this.refuse(
        res,
        409,
        TRANSPORT_REFUSED,
        'Conflict: Only one SSE stream is allowed per session',
      );
      return;
    }
    const exchange: Exchange = new Exchange(
      res,
      this.answerHeaders,
      () => {
        if (this.standalone === exchange) this.standalone = undefined;
      },
      this.counters,
    );
    this.standalone = exchange;
    exchange.stream();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const answers = answeredId(message);
    const requestId = answers ?? options?.relatedRequestId;
    if (requestId === undefined) {
      // Not about any request: the standalone stream, when the client has one open.
      if ('result' in message || 'error' in message) {
        return Promise.reject(new Error('Cannot send a response on a standalone SSE stream'));
      }
      const open = this.standalone !== undefined && !this.standalone.isEnded;
      if (open) this.standalone!.write(message);
      else if ('id' in message) {
        // A request would wait for an answer that can never come: say so now.
        return Promise.reject(new Error('the client has no standalone SSE stream open'));
      }
      return Promise.resolve();
    }
    if (answers !== undefined) this.unanswered.delete(answers);
    const exchange = this.byRequest.get(requestId);
    if (!exchange) {
      return Promise.reject(
        new Error(`No connection established for request ID: ${String(requestId)}`),
      );
    }
    if (answers === undefined) {
      // Something goes to the client before the answer: the POST becomes an event stream.
      exchange.stream();
      exchange.write(message);
      return Promise.resolve();
    }
    this.byRequest.delete(requestId);
    exchange.pending.delete(requestId);
    exchange.write(message);
    if (exchange.isStreaming && exchange.pending.size === 0) exchange.end();
    return Promise.resolve();
  }

  /**
   * The client cancelled this request (notifications/cancelled): it gets no answer, as the
   * spec says, and its POST is not left open until the client gives up. A POST with no other
   * request pending ends now: as an empty event stream if nothing was sent on it yet (the
   * spec lets a request's POST answer with a stream, and clients end a stream that closes
   * without events quietly), else its stream just ends. Another request of the same
   * batch keeps the stream open until it is answered.
   */
  abandon(requestId: RequestId): void {
    this.unanswered.delete(requestId);
    const exchange = this.byRequest.get(requestId);
    if (!exchange) return;
    this.byRequest.delete(requestId);
    exchange.pending.delete(requestId);
    if (exchange.pending.size === 0) exchange.end();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    // Requests still in flight get an answer, not a connection that hangs until it times out.
    const open = new Set<Exchange>();
    for (const [id, exchange] of this.byRequest) {
      exchange.write({
        jsonrpc: '2.0',
        id,
        error: {
          code: CONNECTION_CLOSED,
          message: 'Session closed before the request was answered',
        },
      });
      open.add(exchange);
    }
    for (const exchange of open) exchange.end();
    this.byRequest.clear();
    this.unanswered.clear();
    this.standalone?.end();
    this.standalone = undefined;
    this.onclose?.();
    return Promise.resolve();
  }

  /** A POST stream the client closed: its requests can no longer be answered. */
  private forget(exchange: Exchange): void {
    for (const id of exchange.pending) {
      if (this.byRequest.get(id) === exchange) this.byRequest.delete(id);
    }
  }

  private checkSession(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.sessionId === undefined) return true;
    if (!this.initialized) {
      this.refuse(res, 400, TRANSPORT_REFUSED, 'Bad Request: Server not initialized');
      return false;
    }
    const header = req.headers['mcp-session-id'];
    if (!header) {
      this.refuse(res, 400, TRANSPORT_REFUSED, 'Bad Request: Mcp-Session-Id header is required');
      return false;
    }
    if (header !== this.sessionId) {
      this.refuse(res, 404, SESSION_NOT_FOUND, 'Session not found');
      return false;
    }
    return true;
  }

  /** A version header, when sent, must be one this server speaks (else 400, as the spec says). */
  private checkProtocolVersion(req: IncomingMessage, res: ServerResponse): boolean {
    const version = req.headers['mcp-protocol-version'];
    if (version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(String(version))) return true;
    this.refuse(
      res,
      400,
      TRANSPORT_REFUSED,
      `Bad Request: Unsupported protocol version: ${String(version)} (${SUPPORTED_VERSIONS})`,
    );
    return false;
  }

  private refuse(res: ServerResponse, status: number, code: number, message: string): void {
    this.onrefused?.(status, message);
    this.onerror?.(new Error(message));
    if (res.headersSent) return;
    const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  }
}
