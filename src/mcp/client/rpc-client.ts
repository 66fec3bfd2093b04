// The client side of MCP for one upstream connection: a JSON-RPC client on an SDK transport
// (the SDK's stdio transport, or the gateway's own HTTP one), in place of the SDK's Client.
// It does what the gateway needs of a client: initialize (version check, capabilities),
// requests with a timeout that progress can reset, cancellation (notifications/cancelled),
// progress and list_changed from the server, and an answer to the server's ping. Every
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
  InitializeResultSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type Progress,
  type RequestId,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import type { Cancellation } from '../../util/cancellation.js';
import { McpgateError } from '../../util/errors.js';
import { GATEWAY_VERSION } from '../../util/version.js';
import { METHOD_NOT_FOUND } from '../jsonrpc/codes.js';

/** A transport that can send one message with headers of its own (HTTP; stdio ignores them). */
export type UpstreamTransport = Transport & {
  send(
    message: JSONRPCMessage,
    options?: TransportSendOptions & { headers?: Record<string, string> },
  ): Promise<void>;
};

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
  timeoutMs: number;
  /** Progress from the server restarts the timeout. */
  resetTimeoutOnProgress?: boolean;
  /** Cancelling sends notifications/cancelled and fails the request. */
  cancellation?: Cancellation;
  /** Asks the server for progress (a progressToken) and receives it. */
  onprogress?: (progress: Progress) => void;
  /** Credential headers for this request (HTTP upstreams). */
  headers?: Record<string, string>;
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
  /** A notifications/resources/updated from the server: the resource's URI, as it sent it. */
  onResourceUpdated?: (uri: string) => void;
  /** A notifications/tasks/status from the server: the task as it sent it. */
  onTaskStatus?: (task: Fields) => void;

  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private capabilities: ServerCapabilities | undefined;
  private serverInstructions: string | undefined;
  private serverImplementation: { name: string; version: string } | undefined;
  private closed = false;

  constructor(
    private readonly transport: UpstreamTransport,
    private readonly clientName = 'mcpgate',
  ) {}

  /** The server's capabilities, once initialized. */
  get serverCapabilities(): ServerCapabilities | undefined {
    return this.capabilities;
  }

  /** The server's name and version from its initialize result (serverInfo). */
  get serverInfo(): { name: string; version: string } | undefined {
    return this.serverImplementation;
  }

  /** The server's instructions from its initialize result, if it gave any. */
  get instructions(): string | undefined {
    return this.serverInstructions;
  }

  /** Starts the transport and initializes the session; closes it again on failure. */
  async connect(options: RequestOptions): Promise<void> {
    this.transport.onmessage = (message) => this.receive(message);
    this.transport.onclose = () => this.transportClosed();
    this.transport.onerror = (error) => this.onerror?.(error);
    await this.transport.start();
    try {
      const result = await this.request(
        'initialize',
        {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
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
    const sent = options.onprogress
      ? { ...params, _meta: { ...(params?._meta as Fields | undefined), progressToken: id } }
      : params;
    return new Promise<T>((resolve, reject) => {
      const pending = new Pending(
        method,
        schema,
        options,
        resolve as (value: unknown) => void,
        reject,
      );
      this.pending.set(id, pending);
      pending.timer = setTimeout(() => this.timedOut(id), options.timeoutMs);
      if (cancellation) {
        pending.onCancel = (reason) => this.cancel(id, reason);
        cancellation.onCancel(pending.onCancel);
      }
      this.transport
        .send(
          sent === undefined
            ? { jsonrpc: '2.0', id, method }
            : { jsonrpc: '2.0', id, method, params: sent },
          { headers: options.headers },
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
  private receive(message: JSONRPCMessage): void {
    if ('method' in message) {
      if ('id' in message) this.answerServerRequest(message.id, message.method);
      else this.notification(message.method, message.params);
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

  /** Progress goes to its request (in order: before that request's result); list_changed out. */
  private notification(method: string, params: Fields | undefined): void {
    switch (method) {
      case 'notifications/progress': {
        const pending = this.pending.get(Number(params?.progressToken));
        if (!pending?.options.onprogress || typeof params?.progress !== 'number') return;
        if (pending.options.resetTimeoutOnProgress) {
          clearTimeout(pending.timer);
          const id = Number(params.progressToken);
          pending.timer = setTimeout(() => this.timedOut(id), pending.options.timeoutMs);
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
      case 'notifications/tasks/status':
        if (typeof params?.taskId === 'string') this.onTaskStatus?.(params);
        return;
    }
    // Others (logging, cancelled) are of no use to the gateway.
  }

  /** The gateway offers the server nothing but ping (it declares no client capabilities). */
  private answerServerRequest(id: RequestId, method: string): void {
    const answer: JSONRPCMessage =
      method === 'ping'
        ? { jsonrpc: '2.0', id, result: {} }
        : { jsonrpc: '2.0', id, error: { code: METHOD_NOT_FOUND, message: 'Method not found' } };
    this.transport
      .send(answer)
      .catch((err: unknown) => this.onerror?.(err instanceof Error ? err : new Error(String(err))));
  }

  private transportClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new UpstreamClosedError('Connection closed');
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(error);
    this.onclose?.();
  }
}

function cancelled(reason: unknown): UpstreamCancelledError {
  return new UpstreamCancelledError(`request cancelled: ${String(reason)}`);
}
