// The client side of MCP for one upstream connection: a JSON-RPC client on an SDK transport
// (the SDK's stdio transport, or the gateway's own HTTP one), in place of the SDK's Client.
// It does what the gateway needs of a client: initialize (version check, the client
// capabilities it is given to declare), requests with a timeout that progress can reset,
// cancellation (notifications/cancelled) both ways, progress and list_changed from the
// server, an answer to the server's ping, and the server's own requests (sampling,
// elicitation, roots) and other notifications (logging) handed to whoever serves them,
// with the request of ours each one belongs to as far as the transport can tell. Every
// result is validated once with the SDK's schema for it; a result that does not fit is
// refused, naming what is wrong.
//
// Each request may carry its own credential headers to the transport (HTTP upstreams): the
// call's credential travels with the call, with no AsyncLocalStorage, whose promise hooks
// cost CPU on every promise in the process.
import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  EmptyResultSchema,
  InitializeResultSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type ClientCapabilities,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type Progress,
  type RequestId,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { CancellationSource, type Cancellation } from '../../util/cancellation.js';
import { McpgateError } from '../../util/errors.js';
import { GATEWAY_VERSION } from '../../util/version.js';
import { INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND } from '../jsonrpc/codes.js';
import {
  CLIENT_CAPABILITIES_META,
  CLIENT_INFO_META,
  encodeNameHeader,
  NAMED_PARAM,
  PROTOCOL_VERSION_META,
  STATELESS_VERSIONS,
} from '../server/eras.js';

/**
 * What a transport may say about a message it delivers: the id of the request of ours on
 * whose response stream it came (the HTTP transport: a POST's event stream).
 */
export interface UpstreamMessageExtra extends MessageExtraInfo {
  relatedRequestId?: RequestId;
}

/**
 * A transport that can send one message with headers of its own (HTTP; stdio ignores them):
 * `headers` the call's credential (absent: the connection's own), `routing` what a
 * 2026-07-28 request says about itself (Mcp-Method, Mcp-Name), added to either.
 */
export type UpstreamTransport = Transport & {
  send(
    message: JSONRPCMessage,
    options?: TransportSendOptions & {
      headers?: Record<string, string>;
      routing?: Record<string, string>;
    },
  ): Promise<void>;
  /**
   * True when the transport tells which request of ours a message belongs to (HTTP: the
   * stream it came on). Over stdio nothing on the wire says so.
   */
  readonly relatesMessages?: boolean;
  /** Closes the response stream of one request of ours (HTTP), as 2026-07-28 cancels. */
  endStream?(id: RequestId): void;
};

/** Where a message from the server came from, as far as the transport can tell. */
export interface MessageSource {
  /**
   * The `origin` of the request of ours this message belongs to: the one on whose response
   * stream it came. Undefined when it came on no request's stream, or the transport cannot
   * tell (see `relatable`).
   */
  readonly related: unknown;
  /** Whether the transport can tell (HTTP can, stdio cannot). */
  readonly relatable: boolean;
  /** The `origin` of every request of ours still waiting for its answer. */
  readonly inFlight: readonly unknown[];
}

/** A request the server sent the gateway (sampling, elicitation, roots): what serves it needs. */
export interface ServerRequest extends MessageSource {
  readonly id: RequestId;
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
  /** Cancelled when the server cancels the request, or the connection closes. */
  readonly cancellation: Cancellation;
}

/**
 * How many requests of the server may wait for the gateway's answer at once, per
 * connection: a server that floods requests gets errors, not unbounded work.
 */
export const MAX_SERVER_REQUESTS = 32;

/** What the client needs of an SDK result schema (zod's safeParse). */
export interface ResultSchema<T> {
  safeParse(value: unknown):
    | { success: true; data: T }
    | {
        success: false;
        error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> };
      };
}

export interface RequestOptions {
  /** 0: none (a stream that lasts as long as the connection, subscriptions/listen). */
  timeoutMs: number;
  /** Progress from the server restarts the timeout. */
  resetTimeoutOnProgress?: boolean;
  /** Cancelling sends notifications/cancelled and fails the request. */
  cancellation?: Cancellation;
  /** Asks the server for progress (a progressToken) and receives it. */
  onprogress?: (progress: Progress) => void;
  /** Credential headers for this request (HTTP upstreams). */
  headers?: Record<string, string>;
  /**
   * On whose behalf the request is made: handed back with the server's requests and
   * notifications that belong to it (MessageSource). Never sent.
   */
  origin?: unknown;
  /** subscriptions/listen: what the server's acknowledgement says it honours. */
  onacknowledged?: (notifications: Fields) => void;
}

/** The upstream answered with a JSON-RPC error: its own code (`rpcCode`), message and data. */
export class UpstreamRpcError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_RPC';

  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** No answer within the timeout. */
export class UpstreamTimeoutError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_TIMEOUT';
}

/** The connection closed (the child exited, the transport was closed) before the answer. */
export class UpstreamClosedError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_CLOSED';
}

/** The upstream answered with a result that is not what the method returns. */
export class UpstreamResultError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_RESULT_INVALID';
}

/** The request was cancelled by its caller (the downstream client). */
export class UpstreamCancelledError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_CANCELLED';
}

type Fields = Record<string, unknown>;

function issuesOf(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** One request waiting for its answer. */
/** The requests a 2026-07-28 server may answer with an InputRequiredResult. */
const INPUT_REQUIRED_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

/**
 * An InputRequiredResult: `resultType: "input_required"` with input requests or a state
 * (the spec wants one of them at least).
 */
function isInputRequired(method: string, result: Fields): boolean {
  return (
    INPUT_REQUIRED_METHODS.has(method) &&
    result.resultType === 'input_required' &&
    ((typeof result.inputRequests === 'object' && result.inputRequests !== null) ||
      typeof result.requestState === 'string')
  );
}

/** Where a 2026-07-28 server names the listen request a notification belongs to. */
const SUBSCRIPTION_ID_META = 'io.modelcontextprotocol/subscriptionId';

/** A subscriptions/listen answer (sent only when the server ends the stream): nothing to read. */
const LISTEN_SCHEMA: ResultSchema<Fields> = {
  safeParse: (value: unknown) => ({ success: true, data: (value ?? {}) as Fields }),
};

/** What the gateway reads of a server/discover answer. */
interface DiscoverAnswer {
  supportedVersions: string[];
  capabilities?: ServerCapabilities;
  serverInfo?: { name: string; version: string };
  instructions?: string;
}

/** server/discover's answer: only what the gateway uses is checked. */
const DISCOVER_SCHEMA: ResultSchema<DiscoverAnswer> = {
  safeParse(value: unknown) {
    const fields = (typeof value === 'object' && value !== null ? value : {}) as Fields;
    const versions = fields.supportedVersions;
    if (!Array.isArray(versions) || !versions.every((v) => typeof v === 'string')) {
      return {
        success: false,
        error: { issues: [{ path: ['supportedVersions'], message: 'expected a list of strings' }] },
      };
    }
    const capabilities = fields.capabilities;
    const info = fields.serverInfo as Fields | undefined;
    return {
      success: true,
      data: {
        supportedVersions: versions,
        ...(typeof capabilities === 'object' && capabilities !== null
          ? { capabilities: capabilities }
          : {}),
        ...(typeof info?.name === 'string' && typeof info.version === 'string'
          ? { serverInfo: { name: info.name, version: info.version } }
          : {}),
        ...(typeof fields.instructions === 'string' ? { instructions: fields.instructions } : {}),
      },
    };
  },
};

class Pending {
  timer: NodeJS.Timeout | undefined;
  /** Removed once the request settles, so the cancellation keeps nothing alive. */
  onCancel: ((reason: unknown) => void) | undefined;

  constructor(
    readonly method: string,
    readonly schema: ResultSchema<unknown>,
    readonly options: RequestOptions,
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: Error) => void,
  ) {}
}

export class UpstreamRpc {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** A notifications/<kind>/list_changed from the server. */
  onListChanged?: (kind: 'tools' | 'prompts' | 'resources') => void;
  /**
   * Serves a request of the server (anything but ping): resolves with the result, or rejects
   * with the error to answer (its `rpcCode`, message and `data`). Without it every such
   * request is answered METHOD_NOT_FOUND.
   */
  onServerRequest?: (request: ServerRequest) => Promise<Record<string, unknown>>;
  /** Any other notification of the server (notifications/message, …), with where it came from. */
  onServerNotification?: (
    method: string,
    params: Record<string, unknown> | undefined,
    source: MessageSource,
  ) => void;
  /** A notifications/resources/updated from the server: the resource's URI, as it sent it. */
  onResourceUpdated?: (uri: string) => void;
  /** A notifications/tasks/status from the server: the task as it sent it. */
  onTaskStatus?: (task: Fields) => void;

  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** The server's requests being served, by their id (as a string: ids may be numbers). */
  private readonly serving = new Map<string, CancellationSource>();
  private capabilities: ServerCapabilities | undefined;
  private serverInstructions: string | undefined;
  private serverImplementation: { name: string; version: string } | undefined;
  private closed = false;
  /**
   * The 2026-07-28 envelope every request carries in its `_meta`, once the server answered
   * server/discover with that version; undefined in the handshake era.
   */
  private envelope: Fields | undefined;
  /** 2026-07-28: the subscriptions/listen of each subscribed resource URI, to end it by. */
  private readonly resourceListens = new Map<string, CancellationSource>();

  constructor(
    private readonly transport: UpstreamTransport,
    private readonly clientName = 'mcpgate',
    /** The client capabilities declared at initialize: what the server may ask of the gateway. */
    private readonly clientCapabilities: ClientCapabilities = {},
  ) {}

  /** The server's capabilities, once initialized. */
  get serverCapabilities(): ServerCapabilities | undefined {
    return this.capabilities;
  }

  /** The server's name and version from its initialize or server/discover result (serverInfo). */
  get serverInfo(): { name: string; version: string } | undefined {
    return this.serverImplementation;
  }

  /** The server's instructions from its initialize result, if it gave any. */
  get instructions(): string | undefined {
    return this.serverInstructions;
  }

  /** The protocol revision spoken with the server: 2026-07-28, or the handshake's. */
  get protocolVersion(): string | undefined {
    return this.negotiated;
  }

  private negotiated: string | undefined;

  /**
   * Starts the transport and asks server/discover: a server of the stateless era
   * (2026-07-28) is then spoken to without a handshake; any other answer (an error, no such
   * method, no 2026-07-28 in its versions) falls back to initialize. Closes the transport
   * again on failure.
   */
  async connect(options: RequestOptions): Promise<void> {
    this.transport.onmessage = (message, extra?: UpstreamMessageExtra) =>
      this.receive(message, extra?.relatedRequestId);
    this.transport.onclose = () => this.transportClosed();
    this.transport.onerror = (error) => this.onerror?.(error);
    await this.transport.start();
    try {
      if (await this.discover(options)) return;
      const result = await this.request(
        'initialize',
        {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: this.clientCapabilities,
          clientInfo: { name: this.clientName, version: GATEWAY_VERSION },
        },
        InitializeResultSchema,
        options,
      );
      if (!SUPPORTED_PROTOCOL_VERSIONS.includes(result.protocolVersion)) {
        throw new Error(`Server's protocol version is not supported: ${result.protocolVersion}`);
      }
      this.capabilities = result.capabilities;
      this.serverInstructions = result.instructions;
      this.negotiated = result.protocolVersion;
      this.serverImplementation = {
        name: result.serverInfo.name,
        version: result.serverInfo.version,
      };
      this.transport.setProtocolVersion?.(result.protocolVersion);
      await this.transport.send(
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { headers: options.headers },
      );
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * server/discover at 2026-07-28: true when the server speaks it (the envelope is set for
   * every later request). An answer of the handshake era (an error, a refusal over HTTP)
   * is false; a closed connection or a cancelled connect is an error.
   */
  private async discover(options: RequestOptions): Promise<boolean> {
    const version = STATELESS_VERSIONS[STATELESS_VERSIONS.length - 1]!;
    const envelope: Fields = {
      [PROTOCOL_VERSION_META]: version,
      [CLIENT_CAPABILITIES_META]: this.clientCapabilities,
      [CLIENT_INFO_META]: { name: this.clientName, version: GATEWAY_VERSION },
    };
    this.envelope = envelope;
    let result: DiscoverAnswer;
    try {
      result = await this.request('server/discover', {}, DISCOVER_SCHEMA, options);
    } catch (err) {
      if (err instanceof UpstreamClosedError || err instanceof UpstreamCancelledError) throw err;
      result = { supportedVersions: [] };
    }
    if (!result.supportedVersions.includes(version)) {
      this.envelope = undefined;
      return false;
    }
    this.capabilities = result.capabilities ?? {};
    this.serverInstructions = result.instructions;
    // The registry's serverInfo pin is checked on this as on an initialize result.
    this.serverImplementation = result.serverInfo;
    this.negotiated = version;
    this.transport.setProtocolVersion?.(version);
    this.listen(options);
    return true;
  }

  /**
   * 2026-07-28 has no stream of the server's own: the list changes a server declares come
   * on one subscriptions/listen request that lasts as long as the connection (its
   * notifications reach onListChanged as on the handshake era's stream). A server that
   * refuses it is read again only on reconnect.
   */
  private listen(options: RequestOptions): void {
    const caps = this.capabilities ?? {};
    const notifications: Fields = {};
    if (caps.tools?.listChanged) notifications.toolsListChanged = true;
    if (caps.prompts?.listChanged) notifications.promptsListChanged = true;
    if (caps.resources?.listChanged) notifications.resourcesListChanged = true;
    if (Object.keys(notifications).length === 0) return;
    this.request('subscriptions/listen', { notifications }, LISTEN_SCHEMA, {
      ...options,
      timeoutMs: 0,
    }).catch((err: unknown) => {
      if (!this.closed) this.onerror?.(err instanceof Error ? err : new Error(String(err)));
    });
  }

  /**
   * Subscribes to a resource's updates: resources/subscribe in the handshake era; at
   * 2026-07-28, which has no such method, a subscriptions/listen of its own for this one
   * URI, open until unsubscribeResource (its notifications/resources/updated reach
   * onResourceUpdated as on the handshake era's stream). Resolves once the server answered
   * the subscribe, or acknowledged the listen with the URI among what it honours; within
   * `options.timeoutMs` (0: no limit), else the listen is ended and this rejects.
   */
  async subscribeResource(uri: string, options: RequestOptions): Promise<void> {
    if (!this.envelope) {
      await this.request('resources/subscribe', { uri }, EmptyResultSchema, options);
      return;
    }
    if (this.resourceListens.has(uri)) return;
    const stop = new CancellationSource();
    this.resourceListens.set(uri, stop);
    const forget = (): void => {
      if (this.resourceListens.get(uri) === stop) this.resourceListens.delete(uri);
    };
    const caller = options.cancellation;
    const abandon = (reason: unknown): void => stop.cancel(reason);
    caller?.onCancel(abandon);
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        if (options.timeoutMs > 0) {
          timer = setTimeout(() => {
            const why = `the server did not acknowledge the subscription within ${Math.round(options.timeoutMs / 1000)} s`;
            reject(new UpstreamTimeoutError(why));
            stop.cancel(why);
          }, options.timeoutMs);
        }
        this.request(
          'subscriptions/listen',
          { notifications: { resourceSubscriptions: [uri] } },
          LISTEN_SCHEMA,
          {
            timeoutMs: 0,
            cancellation: stop,
            ...(options.headers === undefined ? {} : { headers: options.headers }),
            onacknowledged: (honoured) => {
              const uris = honoured.resourceSubscriptions;
              if (Array.isArray(uris) && uris.includes(uri)) {
                resolve();
                return;
              }
              const why = 'the server did not honour the subscription';
              reject(new UpstreamRpcError(INVALID_REQUEST, why));
              stop.cancel(why);
            },
          },
        ).then(
          () => {
            forget();
            reject(new UpstreamRpcError(INTERNAL_ERROR, 'the server ended the subscription'));
          },
          (err: unknown) => {
            forget();
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      });
    } catch (err) {
      forget();
      throw err;
    } finally {
      clearTimeout(timer);
      caller?.offCancel(abandon);
    }
  }

  /** Ends a resource subscription (resources/unsubscribe, or at 2026-07-28 its listen). */
  async unsubscribeResource(uri: string, options: RequestOptions): Promise<void> {
    if (!this.envelope) {
      await this.request('resources/unsubscribe', { uri }, EmptyResultSchema, options);
      return;
    }
    const stop = this.resourceListens.get(uri);
    this.resourceListens.delete(uri);
    stop?.cancel('unsubscribed');
  }

  /** Sends a request; resolves with its result, validated by `schema`. */
  request<T>(
    method: string,
    params: Fields | undefined,
    schema: ResultSchema<T>,
    options: RequestOptions,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new UpstreamClosedError('Connection closed'));
    const { cancellation } = options;
    if (cancellation?.cancelled) return Promise.reject(cancelled(cancellation.reason));
    const id = this.nextId++;
    let sent = options.onprogress
      ? { ...params, _meta: { ...(params?._meta as Fields | undefined), progressToken: id } }
      : params;
    let routing: Record<string, string> | undefined;
    if (this.envelope) {
      // 2026-07-28: every request says who asks and at which version, in _meta and headers.
      sent = { ...sent, _meta: { ...(sent?._meta as Fields | undefined), ...this.envelope } };
      routing = {
        'mcp-protocol-version': this.envelope[PROTOCOL_VERSION_META] as string,
        'mcp-method': method,
      };
      const named = NAMED_PARAM.get(method);
      const name = named === undefined ? undefined : sent[named];
      if (typeof name === 'string') routing['mcp-name'] = encodeNameHeader(name);
    }
    return new Promise<T>((resolve, reject) => {
      const pending = new Pending(
        method,
        schema,
        options,
        resolve as (value: unknown) => void,
        reject,
      );
      this.pending.set(id, pending);
      if (options.timeoutMs > 0) {
        pending.timer = setTimeout(() => this.timedOut(id), options.timeoutMs);
      }
      if (cancellation) {
        pending.onCancel = (reason) => this.cancel(id, reason);
        cancellation.onCancel(pending.onCancel);
      }
      this.transport
        .send(
          sent === undefined
            ? { jsonrpc: '2.0', id, method }
            : { jsonrpc: '2.0', id, method, params: sent },
          routing === undefined
            ? { headers: options.headers }
            : { headers: options.headers, routing },
        )
        .catch((err: unknown) => {
          this.settle(id)?.reject(err instanceof Error ? err : new Error(String(err)));
        });
    });
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** Removes a pending request (its timer too); undefined when it was already settled. */
  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (pending.onCancel) pending.options.cancellation?.offCancel(pending.onCancel);
    return pending;
  }

  private timedOut(id: number): void {
    const pending = this.settle(id);
    if (!pending) return;
    this.sendCancelled(id, 'Request timed out', pending.options.headers);
    pending.reject(new UpstreamTimeoutError(`${pending.method} timed out`));
  }

  private cancel(id: number, reason: unknown): void {
    const pending = this.settle(id);
    if (!pending) return;
    this.sendCancelled(id, String(reason), pending.options.headers);
    // 2026-07-28 over HTTP: closing the request's stream is the cancellation.
    if (this.envelope) this.transport.endStream?.(id);
    pending.reject(cancelled(reason));
  }

  private sendCancelled(id: number, reason: string, headers?: Record<string, string>): void {
    if (this.closed) return;
    this.transport
      .send(
        { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } },
        { headers },
      )
      .catch((err: unknown) => this.onerror?.(err instanceof Error ? err : new Error(String(err))));
  }

  /** The transport has checked the JSON-RPC shape of every message it delivers. */
  private receive(message: JSONRPCMessage, relatedId: RequestId | undefined): void {
    if ('method' in message) {
      if ('id' in message)
        this.serverRequest(message.id, message.method, message.params, relatedId);
      else this.notification(message.method, message.params, relatedId);
      return;
    }
    const id = Number(message.id);
    const pending = this.settle(id);
    if (!pending) {
      this.onerror?.(new Error(`upstream answered an unknown request id ${String(message.id)}`));
      return;
    }
    if ('error' in message) {
      const { code, message: text, data } = message.error;
      pending.reject(new UpstreamRpcError(code, text, data));
      return;
    }
    if (this.envelope && isInputRequired(pending.method, message.result)) {
      // 2026-07-28: the server needs input first (MRTR). Not the method's result, so not
      // validated as one: the pipeline passes it on (stages/request-state.ts).
      pending.resolve(message.result);
      return;
    }
    const parsed = pending.schema.safeParse(message.result);
    if (parsed.success) pending.resolve(parsed.data);
    else {
      pending.reject(
        new UpstreamResultError(
          `invalid ${pending.method} result: ${issuesOf(parsed.error.issues)}`,
        ),
      );
    }
  }

  /**
   * Progress goes to its request (in order: before that request's result); list_changed out;
   * the server cancelling one of its own requests stops serving it; anything else goes to
   * onServerNotification with where it came from.
   */
  private notification(
    method: string,
    params: Fields | undefined,
    relatedId: RequestId | undefined,
  ): void {
    switch (method) {
      case 'notifications/progress': {
        const pending = this.pending.get(Number(params?.progressToken));
        if (!pending?.options.onprogress || typeof params?.progress !== 'number') return;
        if (pending.options.resetTimeoutOnProgress) {
          clearTimeout(pending.timer);
          const id = Number(params.progressToken);
          if (pending.options.timeoutMs > 0) {
            pending.timer = setTimeout(() => this.timedOut(id), pending.options.timeoutMs);
          }
        }
        // As the SDK client: the handler sees the progress without the token.
        const progress: Fields = { ...params };
        delete progress.progressToken;
        pending.options.onprogress(progress as Progress);
        return;
      }
      case 'notifications/tools/list_changed':
        return this.onListChanged?.('tools');
      case 'notifications/prompts/list_changed':
        return this.onListChanged?.('prompts');
      case 'notifications/resources/list_changed':
        return this.onListChanged?.('resources');
      case 'notifications/resources/updated':
        if (typeof params?.uri === 'string') this.onResourceUpdated?.(params.uri);
        return;
      case 'notifications/subscriptions/acknowledged': {
        // 2026-07-28: the listen it acknowledges is named in _meta (and, over HTTP, by the
        // stream it came on).
        const meta = params?._meta as Fields | undefined;
        const named = meta?.[SUBSCRIPTION_ID_META] ?? relatedId;
        const pending =
          typeof named === 'number' || typeof named === 'string'
            ? this.pending.get(Number(named))
            : undefined;
        const honoured = params?.notifications;
        pending?.options.onacknowledged?.(
          typeof honoured === 'object' && honoured !== null ? (honoured as Fields) : {},
        );
        return;
      }
      case 'notifications/tasks/status':
        if (typeof params?.taskId === 'string') this.onTaskStatus?.(params);
        return;
      case 'notifications/cancelled': {
        // The server no longer wants the answer to one of its requests: no answer is sent.
        const id = params?.requestId;
        if (typeof id === 'string' || typeof id === 'number') {
          this.serving.get(String(id))?.cancel(params?.reason ?? 'cancelled by the server');
        }
        return;
      }
    }
    this.onServerNotification?.(method, params, this.sourceOf(relatedId));
  }

  /** Where a message came from: the origin of the request it belongs to, and all in flight. */
  private sourceOf(relatedId: RequestId | undefined): MessageSource {
    const inFlight: unknown[] = [];
    for (const pending of this.pending.values()) {
      if (pending.options.origin !== undefined) inFlight.push(pending.options.origin);
    }
    const related =
      relatedId === undefined ? undefined : this.pending.get(Number(relatedId))?.options.origin;
    return { related, relatable: this.transport.relatesMessages === true, inFlight };
  }

  /**
   * A request of the server: ping is answered here; anything else by onServerRequest (or
   * METHOD_NOT_FOUND without one), once, unless the server cancels it first. The answer travels with
   * the credential of the request it belongs to (HTTP).
   */
  private serverRequest(
    id: RequestId,
    method: string,
    params: Fields | undefined,
    relatedId: RequestId | undefined,
  ): void {
    const headers =
      relatedId === undefined ? undefined : this.pending.get(Number(relatedId))?.options.headers;
    if (method === 'ping') {
      this.answer({ jsonrpc: '2.0', id, result: {} }, headers);
      return;
    }
    const serve = this.onServerRequest;
    const key = String(id);
    if (!serve) {
      this.answer(errorAnswer(id, METHOD_NOT_FOUND, 'Method not found'), headers);
      return;
    }
    if (this.serving.has(key)) {
      this.answer(
        errorAnswer(id, INVALID_REQUEST, `request id ${JSON.stringify(id)} is already in use`),
        headers,
      );
      return;
    }
    if (this.serving.size >= MAX_SERVER_REQUESTS) {
      this.answer(
        errorAnswer(
          id,
          INTERNAL_ERROR,
          `too many requests from this server wait for an answer (at most ${MAX_SERVER_REQUESTS}); retry once some are answered`,
        ),
        headers,
      );
      return;
    }
    const cancellation = new CancellationSource();
    this.serving.set(key, cancellation);
    const request: ServerRequest = {
      id,
      method,
      params,
      cancellation,
      ...this.sourceOf(relatedId),
    };
    void serve(request)
      .then(
        (result) => ({ jsonrpc: '2.0' as const, id, result }),
        (err: unknown) => errorAnswerOf(id, err),
      )
      .then((answer: JSONRPCMessage) => {
        if (this.serving.get(key) === cancellation) this.serving.delete(key);
        // Cancelled by the server (or the connection closed): it wants no answer.
        if (!cancellation.cancelled) this.answer(answer, headers);
      });
  }

  private answer(message: JSONRPCMessage, headers: Record<string, string> | undefined): void {
    if (this.closed) return;
    this.transport
      .send(message, { headers })
      .catch((err: unknown) => this.onerror?.(err instanceof Error ? err : new Error(String(err))));
  }

  private transportClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new UpstreamClosedError('Connection closed');
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(error);
    const serving = [...this.serving.values()];
    this.serving.clear();
    for (const cancellation of serving) cancellation.cancel('the upstream connection closed');
    this.onclose?.();
  }
}

function errorAnswer(id: RequestId, code: number, message: string, data?: unknown): JSONRPCMessage {
  return {
    jsonrpc: '2.0',
    id,
    error: data === undefined ? { code, message } : { code, message, data },
  };
}

/** A handler's error as the answer: its own JSON-RPC code (`rpcCode`), message and data. */
function errorAnswerOf(id: RequestId, err: unknown): JSONRPCMessage {
  const fields = (typeof err === 'object' && err !== null ? err : {}) as Fields;
  const code = Number.isSafeInteger(fields.rpcCode) ? (fields.rpcCode as number) : INTERNAL_ERROR;
  const message =
    typeof fields.message === 'string' && fields.message !== '' ? fields.message : 'Internal error';
  return errorAnswer(id, code, message, fields.data);
}

function cancelled(reason: unknown): UpstreamCancelledError {
  return new UpstreamCancelledError(`request cancelled: ${String(reason)}`);
}
