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
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  METHOD_NOT_FOUND,
  REQUEST_TIMEOUT,
} from '../jsonrpc/codes.js';
import { RpcError } from '../jsonrpc/errors.js';
import { ClientRequestError, type ClientRequests } from './client-requests.js';
import { ALL_VERSIONS, SERVER_INFO_META } from './eras.js';
import {
  HeldCall,
  HeldCallUnreachableError,
  type CallBinding,
  type HeldCalls,
  type HeldQuestion,
  type RelayedAnswer,
  type RelayedRetry,
  type ReplicaRelay,
} from './held-calls.js';
import type { RequestStates } from './request-state.js';
import { canonicalJson, sha256Hex } from '../../util/canonical-json.js';
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

function binding(session: string, method: string, params: Fields): CallBinding {
  const name = params.name ?? params.uri;
  return {
    session,
    call: `${method} ${typeof name === 'string' ? name : ''}`,
    args: sha256Hex(canonicalJson(params.arguments ?? {})).slice(0, 32),
  };
}

/**
 * How long a client may keep a server/discover answer: the capabilities change only when
 * an upstream's do (a reconnect, a new configuration), so a minute is safe.
 */
const DISCOVER_TTL_MS = 60_000;

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
  /** A stateless client's call: where its questions wait for the client's retry. */
  holder: HeldCall | undefined;

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
    const either = eitherCancelled(this.cancellation, cancellation);
    // A 2026-07-28 client is asked in the call's answer (an InputRequiredResult).
    if (this.holder) return this.holder.ask(request.method, request.params, either);
    // Withdrawn when the upstream withdraws it, or the client cancels this request.
    return this.rpc.requestClient(request, this.id, either);
  }
}

/** What a SessionRpc needs to ask the client things (see requestClient). */
export interface SessionRpcOptions {
  /** The session it serves. */
  sessionId: string;
  /** The process's requests waiting for clients' answers. */
  clientRequests: ClientRequests;
  /**
   * Serves one request of the stateless era (2026-07-28): no initialize, ping or
   * logging/setLevel, no requests to the client, and every result says `resultType` and
   * who answered (`_meta` serverInfo).
   */
  stateless?: boolean;
  /**
   * Stateless only: where calls that ask the client something are held until it retries,
   * and the states that name them (held-calls.ts).
   */
  held?: HeldCallDesk;
}

/** Where a process holds 2026-07-28 calls that wait for their clients (held-calls.ts). */
export interface HeldCallDesk {
  calls: HeldCalls;
  states: RequestStates;
  /** This process's replica id, sealed in the states of the calls it holds. */
  replica: string;
  /** How a retry reaches the replica that holds its call; none with the memory store. */
  relay: ReplicaRelay | undefined;
  /** How long a relayed retry may wait for the holder's answer. */
  relayTimeoutMs: number;
}

/**
 * Methods the stateless era removed (initialize, ping, logging/setLevel, resource
 * subscriptions: subscriptions/listen replaces them) or moved to an extension the gateway
 * does not offer to such clients (tasks).
 */
const HANDSHAKE_ONLY = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
]);

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
    if (options.stateless === true) {
      throw new ClientRequestError(
        `${request.method} cannot reach the client: it speaks MCP 2026-07-28, where a server cannot send requests to the client`,
      );
    }
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
      const result = (await this.answer(method, message, request)) as Fields;
      answer = {
        jsonrpc: '2.0',
        id,
        result: this.options?.stateless ? this.stamp(result) : result,
      };
    } catch (err) {
      answer = { jsonrpc: '2.0', id, error: errorBody(err) };
    } finally {
      if (this.running.get(id) === request) this.running.delete(id);
    }
    // A cancelled request gets no answer (as the spec says); the client has moved on.
    if (request.aborted || !this.transport) return;
    await this.transport.send(answer).catch(() => undefined);
  }

  /** A stateless result says it is complete (unless it says otherwise) and who answered. */
  private stamp(result: Fields): Fields {
    const meta = (result._meta ?? {}) as Fields;
    return {
      ...result,
      resultType: result.resultType ?? 'complete',
      _meta: { ...meta, [SERVER_INFO_META]: this.server.serverInfo },
    };
  }

  private answer(method: string, message: Fields, request: InboundRequest<C>): unknown {
    if (method === 'server/discover') return this.discover(request.delivery?.context);
    if (this.options?.stateless === true && HANDSHAKE_ONLY.has(method)) {
      throw new RpcError(
        METHOD_NOT_FOUND,
        `${method} is not offered to MCP 2026-07-28 clients; send it in a session opened with initialize (2025-11-25)`,
      );
    }
    // ping has no params to speak of (the transport checked the shape of the message).
    if (method === 'ping') return {};
    const entry = method === 'initialize' ? this.initializeMethod : this.server.methods.get(method);
    if (!entry) throw new RpcError(METHOD_NOT_FOUND, 'Method not found');
    const parsed = entry.schema.safeParse(message);
    if (!parsed.success) {
      throw new RpcError(INVALID_PARAMS, `Invalid ${method} request: ${issuesOf(parsed.error)}`);
    }
    let params = parsed.data.params as Fields | undefined;
    const raw = message.params as Fields | undefined;
    if (this.options?.stateless && (raw?.inputResponses ?? raw?.requestState) !== undefined) {
      // The retry of a multi round-trip request (2026-07-28), which the SDK's 2025-11-25
      // schema does not know: kept for the pipeline, which checks them.
      params = { ...params, inputResponses: raw?.inputResponses, requestState: raw?.requestState };
    }
    const held = this.options?.stateless === true ? this.options.held : undefined;
    if (held && params && typeof params.requestState === 'string') {
      if (held.states.owns(params.requestState)) {
        return resume(held, binding(this.options?.sessionId ?? '', method, params), params);
      }
    }
    if (params?.task !== undefined && (entry.taskAugmented !== true || this.options?.stateless)) {
      // Only tools/call may run as a task (the tasks capability names no other request).
      throw new RpcError(
        INVALID_PARAMS,
        `mcpgate does not support task creation (params.task) for ${method}`,
      );
    }
    if (!held || !(request instanceof Request)) return entry.handle(params, request);
    const call = new HeldCall(Promise.resolve().then(() => entry.handle(params, request)));
    request.holder = call;
    return settleHeld(held, call, binding(this.options?.sessionId ?? '', method, params ?? {}));
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

  /**
   * server/discover (2026-07-28): every version of both eras, what the gateway offers, and
   * the instructions. Private to the caller: the instructions depend on what the policy
   * shows this session.
   */
  private discover(context: C | undefined): Fields {
    return {
      supportedVersions: [...ALL_VERSIONS],
      capabilities: this.server.capabilities,
      serverInfo: this.server.serverInfo,
      instructions: this.server.instructions(context),
      ttlMs: DISCOVER_TTL_MS,
      cacheScope: 'private',
    };
  }

  /** The session's transport closed: handlers still running stop sending. */
  private closed(): void {
    this.transport = undefined;
    for (const request of this.running.values()) request.abort(new Error('session closed'));
    this.running.clear();
  }
}

/**
 * A stateless call's answer: its result when it ends without asking the client anything;
 * else an InputRequiredResult with the questions and a state naming this replica, and the
 * call is held until the client retries with that state (resume).
 */
async function settleHeld(
  held: HeldCallDesk,
  call: HeldCall,
  bound: CallBinding,
): Promise<unknown> {
  const step = await call.next();
  if ('done' in step) {
    if ('error' in step.done) throw step.done.error;
    return step.done.result;
  }
  const { token, nonce } = held.states.sealed({ ...bound, upstream: null, holder: held.replica });
  held.calls.hold(nonce, call, step.asked, bound);
  const inputRequests = Object.fromEntries(
    step.asked.map((q: HeldQuestion) => [
      q.key,
      q.params === undefined ? { method: q.method } : { method: q.method, params: q.params },
    ]),
  );
  return { resultType: 'input_required', inputRequests, requestState: token };
}

/**
 * The retry of a held call: its state checked here (seal, session, call, arguments,
 * expiry); then resumed here, or relayed to the replica that holds it.
 */
async function resume(held: HeldCallDesk, bound: CallBinding, params: Fields): Promise<unknown> {
  const opened = held.states.open(params.requestState as string, bound);
  if ('refused' in opened) throw new RpcError(INVALID_PARAMS, opened.refused);
  const responses = (params.inputResponses ?? {}) as Fields;
  const holder = opened.holder ?? held.replica;
  if (holder === held.replica) return resumeHere(held, opened.nonce, bound, responses);
  if (!held.relay) {
    throw new RpcError(
      INVALID_PARAMS,
      `requestState names a call held by replica ${holder}, which this gateway cannot reach (its session store is not shared: use sessions.store.type redis for replicas); call again without it`,
    );
  }
  let answer: RelayedAnswer;
  try {
    answer = await held.relay.send(
      holder,
      { nonce: opened.nonce, bound, responses },
      held.relayTimeoutMs,
    );
  } catch (err) {
    throw relayRefusal(err, holder, held.relayTimeoutMs);
  }
  if ('error' in answer)
    throw new RpcError(answer.error.code, answer.error.message, answer.error.data);
  return answer.result;
}

/** Why a relayed retry failed, as the client is told it. */
function relayRefusal(err: unknown, holder: string, timeoutMs: number): RpcError {
  if (err instanceof HeldCallUnreachableError && err.reason === 'gone') {
    return new RpcError(
      INVALID_PARAMS,
      `requestState names a call held by replica ${holder}, which is gone (restarted or stopped; the call ended with it): call again without requestState`,
    );
  }
  if (err instanceof HeldCallUnreachableError) {
    return new RpcError(
      REQUEST_TIMEOUT,
      `replica ${holder}, which holds this call, took the retry but did not answer within ${Math.round(timeoutMs / 1000)} s; the call's outcome is unknown: check it before calling again without requestState`,
    );
  }
  const cause = err instanceof Error ? err.message : String(err);
  return new RpcError(
    INTERNAL_ERROR,
    `${cause}; the retry could not be relayed to replica ${holder}, which holds the call: retry with the same requestState once the session store is back`,
  );
}

/** The retry of a call held here: the client's answers go to its questions, and it goes on. */
function resumeHere(
  held: HeldCallDesk,
  nonce: string,
  bound: CallBinding,
  responses: Fields,
): Promise<unknown> {
  const taken = held.calls.take(nonce, bound);
  if (!taken) {
    throw new RpcError(
      INVALID_PARAMS,
      'requestState was already used, or its call is no longer held (it ended or timed out); call again without it',
    );
  }
  for (const question of taken.asked) {
    const response = responses[question.key];
    if (typeof response === 'object' && response !== null) question.answer(response as Fields);
    else {
      question.fail(
        new ClientRequestError(
          `the client gave no answer to ${question.method} (inputResponses.${question.key})`,
        ),
      );
    }
  }
  return settleHeld(held, taken.call, bound);
}

/** Serves a retry another replica relayed here (the holder): the call's answer, or its error. */
export async function serveRelayedRetry(
  held: HeldCallDesk,
  retry: RelayedRetry,
): Promise<RelayedAnswer> {
  try {
    return { result: await resumeHere(held, retry.nonce, retry.bound, retry.responses) };
  } catch (err) {
    return { error: errorBody(err) };
  }
}
