// The MCP server side of one client session: a JSON-RPC dispatcher on the session's
// transport. It does what the SDK's Server and Protocol did for the gateway, no more: answer
// initialize and ping, route each request to its method, validate the request's params with
// the SDK's own schema for that method (once), relay cancellation (notifications/cancelled)
// to the handler, send notifications related to a request (progress) on that request's
// stream and list_changed on the session's own stream, and turn a handler's error into a
// JSON-RPC error. The SDK's Protocol cost more CPU per tools/call than this whole module:
// every message was matched against its JSON-RPC schemas until one fitted (a failed zod
// parse builds an error), the params were parsed twice, and a result the upstream's client
// had already validated was validated again.
//
// The gateway's own requests to the client (sampling, elicitation, roots, on behalf of an
// upstream) go on the stream of the client request they belong to, or on the session's
// own stream; the client's answers settle them through the process's ClientRequests.
// Notifications the gateway has no use for (initialized, progress, roots) are ignored.
import {
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type RequestId,
  type ServerCapabilities,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { CancellationSource, eitherCancelled, type Cancellation } from '../../util/cancellation.js';
import { INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND } from '../jsonrpc/codes.js';
import { RpcError } from '../jsonrpc/errors.js';
import { ClientRequestError, type ClientRequests } from './client-requests.js';
import type { Delivery, NodeStreamableHttpTransport } from './http-transport.js';

/** A request the gateway sends the client: sampling/createMessage, elicitation/create, roots/list. */
export interface ClientRequest {
  method: string;
  params?: Record<string, unknown>;
}

/** One request being served: what a method handler needs besides its params. */
export interface InboundRequest<C = unknown> {
  readonly id: RequestId;
  /** Cancelled when the client cancels the request or the session closes. */
  readonly cancellation: Cancellation;
  /** The HTTP request's headers (requestInfo) and what the HTTP layer passed with it. */
  readonly delivery: Delivery<C> | undefined;
  /** Sends a notification about this request (progress) on the request's own stream. */
  sendNotification(notification: ServerNotification): Promise<void>;
  /**
   * Asks the client something on this request's own stream (on behalf of an upstream) and
   * resolves with its answer; `cancellation` withdraws the question.
   */
  sendRequest(
    request: ClientRequest,
    cancellation?: Cancellation,
  ): Promise<Record<string, unknown>>;
}

/** What the dispatcher needs of an SDK request schema (zod's safeParse). */
export interface RequestSchema {
  safeParse(message: unknown):
    | { success: true; data: { params?: unknown } }
    | {
        success: false;
        error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> };
      };
}

/** A method the session answers: the SDK schema of its request, and what to do. */
export interface Method<C = unknown> {
  /** Validates the whole request message; its `params` reach the handler. */
  schema: RequestSchema;
  /** The method may be run as a task (params.task, MCP 2025-11-25); others refuse it. */
  taskAugmented?: boolean;
  handle(params: unknown, request: InboundRequest<C>): unknown;
}

/** What every session of one gateway answers: built once, shared by every session. */
export interface ServerDescription<C = unknown> {
  serverInfo: { name: string; version: string };
  capabilities: ServerCapabilities;
  /** The initialize result's instructions, from what the HTTP layer passed with initialize. */
  instructions(context: C | undefined): string;
  methods: ReadonlyMap<string, Method<C>>;
}

type Fields = Record<string, unknown>;

/**
 * A handler's error as JSON-RPC: its own code, message and data when it has them. The code
 * is `rpcCode` on the gateway's own JSON-RPC errors (RpcError; every mcpgate error's `code`
 * is its stable string code), or a numeric `code` on another library's JSON-RPC error (the
 * SDK's McpError); anything else is an internal error.
 */
function errorBody(err: unknown): { code: number; message: string; data?: unknown } {
  const fields = (typeof err === 'object' && err !== null ? err : {}) as Fields;
  const code = Number.isSafeInteger(fields.rpcCode)
    ? (fields.rpcCode as number)
    : Number.isSafeInteger(fields.code)
      ? (fields.code as number)
      : INTERNAL_ERROR;
  const message =
    typeof fields.message === 'string' && fields.message !== '' ? fields.message : 'Internal error';
  return fields.data === undefined ? { code, message } : { code, message, data: fields.data };
}

/** A zod error's issues, one line each, for an invalid-params answer a person can act on. */
function issuesOf(error: {
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>;
}): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');
}

class Request<C> implements InboundRequest<C> {
  readonly cancellation = new CancellationSource();

  constructor(
    private readonly rpc: SessionRpc<C>,
    readonly id: RequestId,
    readonly delivery: Delivery<C> | undefined,
  ) {}

  get aborted(): boolean {
    return this.cancellation.cancelled;
  }

  abort(reason: unknown): void {
    try {
      this.cancellation.cancel(reason);
    } catch (err) {
      this.rpc.reportError(err);
    }
  }

  sendNotification(notification: ServerNotification): Promise<void> {
    if (this.aborted) return Promise.resolve();
    return this.rpc.sendRelated(this.id, notification);
  }

  sendRequest(request: ClientRequest, cancellation?: Cancellation): Promise<Fields> {
    if (this.aborted) {
      return Promise.reject(
        new ClientRequestError(
          `${request.method} was not sent: the client request it belongs to was cancelled`,
        ),
      );
    }
    // Withdrawn when the upstream withdraws it, or the client cancels this request.
    return this.rpc.requestClient(
      request,
      this.id,
      eitherCancelled(this.cancellation, cancellation),
    );
  }
}

/** What a SessionRpc needs to ask the client things (see requestClient). */
export interface SessionRpcOptions {
  /** The session it serves. */
  sessionId: string;
  /** The process's requests waiting for clients' answers. */
  clientRequests: ClientRequests;
}

export class SessionRpc<C = unknown> {
  private transport: NodeStreamableHttpTransport<C> | undefined;
  /** Requests whose handler is running, for cancellation. */
  private readonly running = new Map<RequestId, Request<C>>();

  constructor(
    private readonly server: ServerDescription<C>,
    private readonly options?: SessionRpcOptions,
  ) {}

  /** Takes over the transport's callbacks; one transport per SessionRpc. */
  async connect(transport: NodeStreamableHttpTransport<C>): Promise<void> {
    if (this.transport) throw new Error('SessionRpc is already connected to a transport');
    this.transport = transport;
    transport.onmessage = (message, delivery) => this.receive(message, delivery);
    transport.onclose = () => this.closed();
    await transport.start();
  }

  /** Closes the transport: requests still running are answered with an error there. */
  close(): Promise<void> {
    return this.transport?.close() ?? Promise.resolve();
  }

  /** A notification not about any request (list_changed): the session's own stream. */
  notify(method: ServerNotification['method']): Promise<void> {
    if (!this.transport) return Promise.resolve();
    return this.transport.send({ jsonrpc: '2.0', method });
  }

  /** A notification with params, not about any request (a resource update, a task's status). */
  send(notification: ServerNotification): Promise<void> {
    if (!this.transport) return Promise.resolve();
    return this.transport.send({ jsonrpc: '2.0', ...notification });
  }

  /**
   * Asks the client something on behalf of an upstream and resolves with its answer: on the
   * stream of the client request `relatedRequestId` (the call the upstream is serving), else
   * on the session's own stream. Rejects when the question cannot reach the client (no such
   * stream is open, the session closed), when the client answers with an error
   * (ClientRpcError), times out, or `cancellation` withdraws it; then the client is told to
   * stop (notifications/cancelled).
   */
  async requestClient(
    request: ClientRequest,
    relatedRequestId: RequestId | undefined,
    cancellation?: Cancellation,
  ): Promise<Fields> {
    const transport = this.transport;
    const options = this.options;
    if (!transport || !options) {
      throw new ClientRequestError(
        `${request.method} cannot reach the client: its session is closed`,
      );
    }
    const { sessionId, clientRequests } = options;
    const opened = clientRequests.open(sessionId, request.method, cancellation);
    const message: JSONRPCMessage =
      request.params === undefined
        ? { jsonrpc: '2.0', id: opened.id, method: request.method }
        : { jsonrpc: '2.0', id: opened.id, method: request.method, params: request.params };
    const sendOptions = relatedRequestId === undefined ? undefined : { relatedRequestId };
    let sent = false;
    try {
      await transport.send(message, sendOptions);
      sent = true;
    } catch (err) {
      const where =
        relatedRequestId === undefined
          ? 'the client has no stream open for the session (GET /mcp)'
          : 'the client request it belongs to is no longer open';
      clientRequests.fail(
        sessionId,
        opened.id,
        new ClientRequestError(`${request.method} cannot reach the client: ${where}`, {
          cause: err,
        }),
      );
    }
    try {
      return await opened.answer;
    } catch (err) {
      if (sent && err instanceof ClientRequestError) {
        // Withdrawn or timed out: the client may stop asking its user.
        const reason = cancellation?.cancelled ? String(cancellation.reason) : err.message;
        const cancelled: JSONRPCMessage = {
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: opened.id, reason },
        };
        // On the question's stream, or on the session's own when that one has ended (the
        // client cancelled the call it belongs to).
        void this.transport
          ?.send(cancelled, sendOptions)
          .catch(() => this.transport?.send(cancelled))
          .catch(() => undefined);
      }
      throw err;
    }
  }

  /** @internal A cancellation listener failed; the transport's onerror hears of it. */
  reportError(err: unknown): void {
    this.transport?.onerror?.(err instanceof Error ? err : new Error(String(err)));
  }

  /** @internal A notification about one request, on that request's stream. */
  sendRelated(id: RequestId, notification: ServerNotification): Promise<void> {
    if (!this.transport) return Promise.resolve();
    const message = { jsonrpc: '2.0' as const, ...notification };
    return this.transport.send(message, { relatedRequestId: id });
  }

  /** The transport has checked the JSON-RPC shape (mcp/jsonrpc/shape.ts) before this runs. */
  private receive(message: JSONRPCMessage, delivery: Delivery<C> | undefined): void {
    if ('method' in message) {
      if ('id' in message) void this.serve(message, delivery);
      else if (message.method === 'notifications/cancelled') this.cancel(message.params);
      // Other notifications (initialized, progress, roots/list_changed) need no action.
    }
    // An answer to a request of the gateway (the transport let only awaited ones through).
    else if (this.options && ('result' in message || 'error' in message)) {
      const id = message.id;
      if (id !== undefined) this.options.clientRequests.settle(this.options.sessionId, id, message);
    }
  }

  /**
   * The client cancelled one of its requests: the handler is told (the upstream call stops),
   * no answer is sent, and the request's POST is closed now rather than when the handler
   * ends (or never).
   */
  private cancel(params: Fields | undefined): void {
    const id = params?.requestId;
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const request = this.running.get(id);
    if (!request) return;
    request.abort(params?.reason);
    this.transport?.abandon(id);
  }

  private async serve(
    message: Fields & { id: RequestId },
    delivery: Delivery<C> | undefined,
  ): Promise<void> {
    const id = message.id;
    const method = message.method as string;
    let answer: JSONRPCMessage;
    const request = new Request(this, id, delivery);
    this.running.set(id, request);
    try {
      const result = await this.answer(method, message, request);
      answer = { jsonrpc: '2.0', id, result: result as Fields };
    } catch (err) {
      answer = { jsonrpc: '2.0', id, error: errorBody(err) };
    } finally {
      if (this.running.get(id) === request) this.running.delete(id);
    }
    // A cancelled request gets no answer (as the spec says); the client has moved on.
    if (request.aborted || !this.transport) return;
    await this.transport.send(answer).catch(() => undefined);
  }

  private answer(method: string, message: Fields, request: InboundRequest<C>): unknown {
    // ping has no params to speak of (the transport checked the shape of the message).
    if (method === 'ping') return {};
    const entry = method === 'initialize' ? this.initializeMethod : this.server.methods.get(method);
    if (!entry) throw new RpcError(METHOD_NOT_FOUND, 'Method not found');
    const parsed = entry.schema.safeParse(message);
    if (!parsed.success) {
      throw new RpcError(INVALID_PARAMS, `Invalid ${method} request: ${issuesOf(parsed.error)}`);
    }
    const params = parsed.data.params as Fields | undefined;
    if (params?.task !== undefined && entry.taskAugmented !== true) {
      // Only tools/call may run as a task (the tasks capability names no other request).
      throw new RpcError(
        INVALID_PARAMS,
        `mcpgate does not support task creation (params.task) for ${method}`,
      );
    }
    return entry.handle(params, request);
  }

  private readonly initializeMethod: Method<C> = {
    schema: InitializeRequestSchema,
    handle: (params, request) => this.initialize(params as Fields, request.delivery?.context),
  };

  /** The version the client asked for when this server speaks it, else the latest. */
  private initialize(params: Fields, context: C | undefined): Fields {
    const requested = params.protocolVersion;
    const protocolVersion =
      typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
        ? requested
        : LATEST_PROTOCOL_VERSION;
    return {
      protocolVersion,
      capabilities: this.server.capabilities,
      serverInfo: this.server.serverInfo,
      instructions: this.server.instructions(context),
    };
  }

  /** The session's transport closed: handlers still running stop sending. */
  private closed(): void {
    this.transport = undefined;
    for (const request of this.running.values()) request.abort(new Error('session closed'));
    this.running.clear();
  }
}
