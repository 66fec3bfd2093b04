// One live MCP client connection to one upstream server (a stdio child, a Streamable
// HTTP endpoint or a legacy HTTP+SSE one). It restarts itself with exponential backoff
// when the child exits or the connection drops; while it is down every call fails at once
// with a clear reason. Nothing from a request ever reaches the command line, the
// environment or the headers: they come from the configuration only.
import { EventEmitter } from 'node:events';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CallToolResultSchema,
  CancelTaskResultSchema,
  CompleteResultSchema,
  CreateTaskResultSchema,
  EmptyResultSchema,
  GetPromptResultSchema,
  GetTaskResultSchema,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  ListToolsResultSchema,
  ReadResourceResultSchema,
  type CallToolRequest,
  type CallToolResult,
  type ClientCapabilities,
  type CompleteRequest,
  type CompleteResult,
  type CreateTaskResult,
  type GetPromptRequest,
  type GetPromptResult,
  type Progress,
  type ReadResourceRequest,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../config/load.js';
import type { TraceCarrier } from '../telemetry/tracing.js';
import { readValue } from '../config/secrets.js';
import { CredentialError } from '../credentials/broker.js';
import type { Cancellation } from '../util/cancellation.js';
import type { Logger } from '../util/logger.js';
import { INTERNAL_ERROR, METHOD_NOT_FOUND, REQUEST_TIMEOUT } from '../mcp/jsonrpc/codes.js';
import { RpcError } from '../mcp/jsonrpc/errors.js';
import { McpgateError } from '../util/errors.js';
import type { ServerCatalog } from './catalog.js';
import type { PeerCertificate } from 'node:tls';
import { UpstreamIdentityError, type IdentityGate } from './trust/identity.js';
import { HttpClientTransport } from '../mcp/client/http-transport.js';
import { SseClientTransport } from '../mcp/client/sse-transport.js';
import {
  UpstreamCancelledError,
  UpstreamClosedError,
  UpstreamResultError,
  UpstreamRpc,
  UpstreamRpcError,
  UpstreamTimeoutError,
  type MessageSource,
  type RequestOptions,
  type ResultSchema,
  type ServerRequest,
  type UpstreamTransport,
} from '../mcp/client/rpc-client.js';

export type ConnectionState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';
export type ListKind = 'tools' | 'prompts' | 'resources';

/** The upstream cannot take calls right now; the message says why and what happens next. */
export class UpstreamUnavailableError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_UNAVAILABLE';
}

/**
 * A server's lists break a bound (too many items or pages, a cursor that repeats): the read
 * is refused as it is, not retried by reconnecting, and the message says which bound.
 */
export class CatalogLimitError extends McpgateError {
  static override readonly code = 'ERR_CATALOG_LIMIT';
}

/** Most pages one list may take; a server that pages on and on is cut off here. */
export const MAX_LIST_PAGES = 1000;

/**
 * Pages through a cursor-paginated list to the end, bounded against a looping or endless
 * server: at most MAX_LIST_PAGES pages and `maxItems` items, and no cursor twice.
 */
async function readAllPages<T>(
  what: string,
  maxItems: number,
  fetchPage: (
    cursor: string | undefined,
  ) => Promise<{ items: T[]; nextCursor?: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  const cursors = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = await fetchPage(cursor);
    items.push(...result.items);
    if (items.length > maxItems) {
      throw new CatalogLimitError(
        `${what} has more than ${maxItems} items (tool_trust.max_list_items); the list was not taken`,
      );
    }
    if (!result.nextCursor) return items;
    if (cursors.has(result.nextCursor)) {
      throw new CatalogLimitError(
        `${what} repeats the page cursor ${JSON.stringify(result.nextCursor.slice(0, 40))} after ${page + 1} pages; the list was not taken`,
      );
    }
    cursors.add(result.nextCursor);
    cursor = result.nextCursor;
  }
  throw new CatalogLimitError(
    `${what} did not end within ${MAX_LIST_PAGES} pages; the list was not taken`,
  );
}

/** What one call to an upstream carries besides its params. */
export interface CallOptions {
  /** The downstream request's cancellation. */
  cancellation?: Cancellation;
  /** Progress from the upstream (the client asked for it with a progressToken). */
  onprogress?: (progress: Progress) => void;
  /** The call's own credential headers (HTTP upstreams). */
  headers?: Record<string, string>;
  /** Epoch ms after which `headers` must not be sent again (an obtained token's expiry). */
  headersExpireAt?: number;
  /** W3C trace context headers for this call only (HTTP upstreams; never kept for later requests). */
  traceHeaders?: TraceCarrier;
  /**
   * On whose behalf the call is made (the downstream request): handed back with the
   * server's requests and notifications that belong to the call.
   */
  origin?: unknown;
}

/**
 * Who serves what the server sends of its own accord on a connection: its requests
 * (sampling, elicitation, roots) and notifications other than progress and list_changed.
 */
export interface UpstreamPeer {
  request(connection: UpstreamConnection, request: ServerRequest): Promise<Record<string, unknown>>;
  notification(
    connection: UpstreamConnection,
    method: string,
    params: Record<string, unknown> | undefined,
    source: MessageSource,
  ): void;
}

/** tool_trust.max_list_items unless configured: items one list may have. */
export const DEFAULT_MAX_LIST_ITEMS = 10_000;

/** The SDK client's timeout for requests that name none: the catalog reads. */
const LIST_TIMEOUT_MS = 60_000;

export interface UpstreamConnectionEvents {
  ready: [];
  down: [reason: string];
  listChanged: [kind: ListKind];
  /** notifications/resources/updated: the upstream's own URI. */
  resourceUpdated: [uri: string];
  /** notifications/tasks/status: the task as the upstream sent it (its own task id). */
  taskStatus: [task: Record<string, unknown>];
}

/** The task methods a client may send about a task the upstream runs. */
export type TaskMethod = 'tasks/get' | 'tasks/result' | 'tasks/cancel';

/** Tasks are created by tools/call only, so tasks/result answers with a tools/call result. */
const TASK_RESULT_SCHEMAS: Record<TaskMethod, ResultSchema<Record<string, unknown>>> = {
  'tasks/get': GetTaskResultSchema,
  'tasks/result': CallToolResultSchema,
  'tasks/cancel': CancelTaskResultSchema,
};

export class UpstreamConnection extends EventEmitter<UpstreamConnectionEvents> {
  private client: UpstreamRpc | undefined;
  private stateValue: ConnectionState = 'idle';
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastError = '';
  private connecting: Promise<void> | undefined;
  private restarts = 0;
  /**
   * Where the server's own requests and notifications go: the holder's `peer` at the time
   * they arrive (the registry's, set once the pipeline exists); without one they are refused.
   */
  peers: { readonly peer: UpstreamPeer | undefined } | undefined;

  constructor(
    readonly config: UpstreamConfig,
    private readonly logger: Logger,
    /** For logs: "shared" or the session the connection belongs to. */
    private readonly owner: string,
    /** Per-session connections: a private scratch directory for the child (see below). */
    private readonly sessionDir?: string,
    /**
     * Credential headers for requests outside a call (connect, lists, streams): HTTP only.
     * A call carries its own credential (CallOptions.headers) instead.
     */
    private readonly connectionHeaders?: () => Promise<Record<string, string>>,
    /** Per-session connections: the session it belongs to (undefined: the shared one). */
    readonly sessionId?: string,
    /** The client capabilities declared to the server at initialize. */
    private readonly clientCapabilities: ClientCapabilities = {},
    /** The registry's checks (tool_trust.registry: enforce); none when it is off. */
    private readonly identity?: IdentityGate,
  ) {
    super();
  }

  /** Why the registry refused this upstream at the last attempt (cleared once it connects). */
  private refusalValue: string | undefined;

  get refusal(): string | undefined {
    return this.refusalValue;
  }

  get name(): string {
    return this.config.name;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** A method, not a field read: close() may run while connectOnce awaits. */
  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  get lastErrorMessage(): string {
    return this.lastError;
  }

  /** How often the connection went down and was scheduled to restart since it was made. */
  get restartCount(): number {
    return this.restarts;
  }

  /**
   * An MCP ping with its own timeout: resolves when the server answers, rejects naming what
   * went wrong (no answer in time, not connected). A hung server keeps its pipe or socket
   * open, so only a request shows that it stopped answering.
   */
  async ping(timeoutMs: number): Promise<void> {
    const client = this.requireClient();
    try {
      await client.request('ping', undefined, EmptyResultSchema, {
        timeoutMs,
        headers: await this.credentialHeaders(),
      });
    } catch (err) {
      if (err instanceof UpstreamTimeoutError) {
        throw new UpstreamUnavailableError(
          `upstream ${this.name} did not answer ping within ${timeoutMs / 1000} s`,
        );
      }
      throw new UpstreamUnavailableError(
        `upstream ${this.name} failed ping: ${(err as Error).message}`,
      );
    }
  }

  /** What the server said it is in its initialize result (name, version), once connected. */
  get serverInfo(): { name: string; version: string } | undefined {
    return this.client?.serverInfo;
  }

  /**
   * Connects; on failure schedules retries and rejects with the first error. `headers` is
   * the credential of the call that needs the connection (a per-session connection opened
   * by its session's first call), used for the handshake and kept for what follows until
   * `expiresAt`.
   */
  start(headers?: Record<string, string>, expiresAt?: number): Promise<void> {
    if (this.stateValue === 'closed') return Promise.reject(new Error('connection is closed'));
    if (this.stateValue === 'ready') return Promise.resolve();
    if (headers) this.lastCall = { headers, expiresAt };
    this.connecting ??= this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private buildTransport(): UpstreamTransport {
    const where = `upstreams.${this.config.name}`;
    if (this.config.transport === 'stdio') {
      // A per-session child gets its own scratch directory, named by MCPGATE_SESSION_DIR and
      // substituted for ${MCPGATE_SESSION_DIR} in args and env, so a stateful server can
      // keep its state per session. The value is made by the gateway, never by a request.
      const expand = (value: string): string =>
        this.sessionDir === undefined
          ? value
          : value.replaceAll('${MCPGATE_SESSION_DIR}', this.sessionDir);
      const env: Record<string, string> = {};
      for (const [key, source] of Object.entries(this.config.env)) {
        env[key] = expand(readValue(source, `${where}.env.${key}`));
      }
      if (this.sessionDir !== undefined) env.MCPGATE_SESSION_DIR = this.sessionDir;
      const credential = this.config.credential;
      if (credential.type === 'static-secret' && credential.envVar !== undefined) {
        // Read at every (re)start, so a rotated secret reaches the next child.
        env[credential.envVar] = readValue(credential.value, `${where}.credential.value`);
      }
      const transport = new StdioClientTransport({
        command: this.config.command,
        args: this.config.args.map(expand),
        env,
        stderr: 'pipe',
        ...(this.config.cwd === undefined ? {} : { cwd: this.config.cwd }),
      });
      transport.stderr?.on('data', (chunk: Buffer) => {
        this.logger.debug('upstream stderr', {
          upstream: this.name,
          text: chunk.toString('utf8').trimEnd(),
        });
      });
      return transport;
    }
    const headers: Record<string, string> = {};
    for (const [key, source] of Object.entries(this.config.headers)) {
      headers[key] = readValue(source, `${where}.headers.${key}`);
    }
    const options = { headers, credentials: () => this.credentialHeaders() };
    const url = new URL(this.config.url);
    if (this.config.transport === 'sse') return new SseClientTransport(url, options);
    const gate = this.identity;
    return new HttpClientTransport(url, {
      ...options,
      ...(gate?.checkCertificate === undefined
        ? {}
        : {
            checkCertificate: (cert: PeerCertificate) => {
              const refusal = gate.checkCertificate?.(cert);
              return refusal === undefined ? undefined : new UpstreamIdentityError(refusal);
            },
          }),
    });
  }

  private async connectOnce(): Promise<void> {
    this.stateValue = 'connecting';
    let client: UpstreamRpc | undefined;
    try {
      // Nothing is started or sent to an upstream the registry does not admit.
      this.checkIdentity(this.identity?.beforeConnect());
      client = new UpstreamRpc(this.buildTransport(), 'mcpgate', this.clientCapabilities);
      const connected = client;
      client.onclose = () => this.onClosed(connected, 'connection closed');
      client.onServerRequest = (request) => {
        const peer = this.peers?.peer;
        return peer
          ? peer.request(this, request)
          : Promise.reject(new RpcError(METHOD_NOT_FOUND, 'Method not found'));
      };
      client.onServerNotification = (method, params, source) =>
        this.peers?.peer?.notification(this, method, params, source);
      client.onerror = (err) => {
        this.logger.debug('upstream transport error', { upstream: this.name, error: err.message });
      };
      client.onListChanged = (kind) => this.emit('listChanged', kind);
      client.onResourceUpdated = (uri) => this.emit('resourceUpdated', uri);
      client.onTaskStatus = (task) => this.emit('taskStatus', task);
      const headers = await this.credentialHeaders();
      await client.connect({ timeoutMs: this.config.timeoutMs, headers });
      this.checkIdentity(this.identity?.afterInitialize(client.serverInfo));
    } catch (err) {
      const message = (err as Error).message;
      await client?.close().catch(() => undefined);
      this.scheduleRetry(`cannot connect: ${message}`);
      throw new UpstreamUnavailableError(
        `upstream ${this.name} is unavailable: cannot connect: ${message}`,
      );
    }
    if (this.isClosed()) {
      await client.close().catch(() => undefined);
      return;
    }
    clearTimeout(this.retryTimer);
    this.client = client;
    this.stateValue = 'ready';
    this.attempts = 0;
    this.lastError = '';
    this.refusalValue = undefined;
    this.logger.info('upstream connected', {
      upstream: this.name,
      owner: this.owner,
      protocol: client.protocolVersion,
    });
    this.emit('ready');
  }

  /** Throws (and remembers why) when the registry refuses this upstream. */
  private checkIdentity(refusal: string | undefined): void {
    if (refusal === undefined) return;
    if (refusal !== this.refusalValue) {
      this.logger.error('upstream refused by the registry', {
        upstream: this.name,
        reason: refusal,
      });
    }
    this.refusalValue = refusal;
    throw new UpstreamIdentityError(`refused by the upstream registry: ${refusal}`);
  }

  /**
   * Checks a connected upstream again (a new policy brought another registry): when it is
   * now refused, the connection is closed and retried like a dropped one.
   */
  recheckIdentity(): void {
    const client = this.client;
    if (client === undefined || this.stateValue !== 'ready') return;
    try {
      this.checkIdentity(this.identity?.beforeConnect());
      this.checkIdentity(this.identity?.afterInitialize(client.serverInfo));
    } catch (err) {
      this.client = undefined;
      void client.close().catch(() => undefined);
      this.scheduleRetry((err as Error).message);
    }
  }

  private onClosed(client: UpstreamRpc, reason: string): void {
    if (this.client !== client || this.stateValue === 'closed') return;
    this.client = undefined;
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    if (this.stateValue === 'closed') return;
    this.lastError = reason;
    this.stateValue = 'backoff';
    this.restarts++;
    const { initialDelayMs, maxDelayMs } = this.config.restart;
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(this.attempts, 20));
    this.attempts++;
    this.logger.warn('upstream down; restarting', {
      upstream: this.name,
      owner: this.owner,
      reason,
      retry_in_ms: delay,
    });
    this.emit('down', reason);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stateValue === 'backoff') this.start().catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
  }

  /** Forces a reconnect (after a transport-level failure on an HTTP upstream). */
  private restartAfterFailure(reason: string): void {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    void client.close().catch(() => undefined);
    this.scheduleRetry(reason);
  }

  private requireClient(): UpstreamRpc {
    if (this.client && this.stateValue === 'ready') return this.client;
    const why = this.lastError ? `: ${this.lastError}` : '';
    throw new UpstreamUnavailableError(
      `upstream ${this.name} is unavailable${why}; it is being restarted, retry shortly`,
    );
  }

  /**
   * The last credential a call used: later requests outside a call (streams, reconnects)
   * reuse it until it expires.
   */
  private lastCall: { headers: Record<string, string>; expiresAt: number | undefined } | undefined;

  /**
   * For requests outside a call: the last call's credential while it is valid, else the
   * connection's own. An expired user token is never sent: with no credential of its own,
   * the request is not made (the next call brings a fresh token).
   */
  private credentialHeaders(): Record<string, string> | Promise<Record<string, string>> {
    const last = this.lastCall;
    if (last && (last.expiresAt === undefined || last.expiresAt > Date.now())) return last.headers;
    if (this.connectionHeaders) return this.connectionHeaders();
    if (last) {
      throw new CredentialError(
        `the credential of the last call to upstream ${this.name} has expired; this connection sends nothing more until the next call brings a fresh one`,
      );
    }
    return {};
  }

  /** Runs one upstream request, turning failures into clear errors. */
  private async run<T>(what: string, request: (client: UpstreamRpc) => Promise<T>): Promise<T> {
    const client = this.requireClient();
    try {
      return await request(client);
    } catch (err) {
      // Already a clear answer (a result the tool's output schema refuses, a list too long).
      if (err instanceof RpcError || err instanceof CatalogLimitError) throw err;
      if (err instanceof UpstreamClosedError) {
        throw new UpstreamUnavailableError(
          `upstream ${this.name} disconnected during ${what}; it is being restarted. ` +
            'The call may or may not have taken effect.',
        );
      }
      if (err instanceof UpstreamTimeoutError) {
        throw new RpcError(
          REQUEST_TIMEOUT,
          `upstream ${this.name} did not answer ${what} within ${Math.round(this.config.timeoutMs / 1000)} s`,
        );
      }
      // The upstream's own JSON-RPC error: pass code, message and data through. SDK-based
      // servers send "MCP error <code>: ..." (and may nest it); every copy is removed here,
      // as the downstream client's SDK adds its own.
      if (err instanceof UpstreamRpcError) {
        throw new RpcError(err.rpcCode, err.message.replace(/^(MCP error -?\d+: )+/, ''), err.data);
      }
      if (err instanceof UpstreamResultError) {
        throw new RpcError(
          INTERNAL_ERROR,
          `upstream ${this.name} answered ${what} with an ${err.message}`,
        );
      }
      // Cancelled by the downstream client: nobody reads the answer; say so all the same.
      if (err instanceof UpstreamCancelledError) throw new RpcError(INTERNAL_ERROR, err.message);
      // Not a JSON-RPC error: the transport itself failed (HTTP error, expired session).
      this.restartAfterFailure(`${what} failed: ${(err as Error).message}`);
      throw new UpstreamUnavailableError(
        `upstream ${this.name} failed during ${what}: ${(err as Error).message}; reconnecting`,
      );
    }
  }

  /** Reads the server's lists, each at most `maxItems` items (tool_trust.max_list_items). */
  async fetchCatalog(maxItems = DEFAULT_MAX_LIST_ITEMS): Promise<ServerCatalog> {
    const what = (list: string): string => `upstream ${this.name}'s ${list}`;
    return this.run('catalog refresh', async (client) => {
      const caps = client.serverCapabilities ?? {};
      const tools = caps.tools
        ? await readAllPages(what('tools/list'), maxItems, async (cursor) => {
            const r = await client.request(
              'tools/list',
              cursor ? { cursor } : undefined,
              ListToolsResultSchema,
              await this.listOptions(),
            );
            return { items: r.tools, nextCursor: r.nextCursor };
          })
        : [];
      const prompts = caps.prompts
        ? await readAllPages(what('prompts/list'), maxItems, async (cursor) => {
            const r = await client.request(
              'prompts/list',
              cursor ? { cursor } : undefined,
              ListPromptsResultSchema,
              await this.listOptions(),
            );
            return { items: r.prompts, nextCursor: r.nextCursor };
          })
        : [];
      const resources = caps.resources
        ? await readAllPages(what('resources/list'), maxItems, async (cursor) => {
            const r = await client.request(
              'resources/list',
              cursor ? { cursor } : undefined,
              ListResourcesResultSchema,
              await this.listOptions(),
            );
            return { items: r.resources, nextCursor: r.nextCursor };
          })
        : [];
      const templates = caps.resources
        ? await readAllPages(what('resources/templates/list'), maxItems, async (cursor) => {
            const r = await client.request(
              'resources/templates/list',
              cursor ? { cursor } : undefined,
              ListResourceTemplatesResultSchema,
              await this.listOptions(),
            );
            return { items: r.resourceTemplates, nextCursor: r.nextCursor };
          })
        : [];
      return {
        server: this.name,
        prefix: this.config.prefix,
        tools,
        prompts,
        resources,
        templates,
        // From this connection's initialize: a reconnect (which rereads the lists) refreshes it.
        instructions: client.instructions,
        capabilities: caps,
      };
    });
  }

  private async listOptions(): Promise<{ timeoutMs: number; headers: Record<string, string> }> {
    return { timeoutMs: LIST_TIMEOUT_MS, headers: await this.credentialHeaders() };
  }

  /** Per call: the call's timeout (progress resets it), cancellation, progress, credential. */
  private options(options: CallOptions): RequestOptions {
    if (options.headers) {
      this.lastCall = { headers: options.headers, expiresAt: options.headersExpireAt };
    }
    return {
      timeoutMs: this.config.timeoutMs,
      resetTimeoutOnProgress: true,
      cancellation: options.cancellation,
      onprogress: options.onprogress,
      headers:
        options.traceHeaders === undefined
          ? options.headers
          : { ...options.headers, ...options.traceHeaders },
      origin: options.origin,
    };
  }

  callTool(params: CallToolRequest['params'], options: CallOptions): Promise<CallToolResult> {
    // The result's structuredContent is checked against the tool's outputSchema by the
    // pipeline (stages/check-output.ts), once per catalog entry's compiled validator.
    return this.run(`tools/call ${params.name}`, (client) =>
      client.request('tools/call', params, CallToolResultSchema, this.options(options)),
    );
  }

  readResource(
    params: ReadResourceRequest['params'],
    options: CallOptions,
  ): Promise<ReadResourceResult> {
    return this.run('resources/read', (client) =>
      client.request('resources/read', params, ReadResourceResultSchema, this.options(options)),
    );
  }

  getPrompt(params: GetPromptRequest['params'], options: CallOptions): Promise<GetPromptResult> {
    return this.run(`prompts/get ${params.name}`, (client) =>
      client.request('prompts/get', params, GetPromptResultSchema, this.options(options)),
    );
  }

  complete(params: CompleteRequest['params'], options: CallOptions): Promise<CompleteResult> {
    return this.run('completion/complete', (client) =>
      client.request('completion/complete', params, CompleteResultSchema, this.options(options)),
    );
  }

  /** resources/subscribe or resources/unsubscribe of one upstream URI. */
  subscription(
    method: 'resources/subscribe' | 'resources/unsubscribe',
    uri: string,
    options: CallOptions,
  ): Promise<unknown> {
    // At 2026-07-28 a subscription is a subscriptions/listen of its own (rpc-client.ts).
    return this.run(method, (client) =>
      method === 'resources/subscribe'
        ? client.subscribeResource(uri, this.options(options))
        : client.unsubscribeResource(uri, this.options(options)),
    );
  }

  /** A task-augmented tools/call (params.task): the upstream answers with the task it created. */
  createToolTask(
    params: CallToolRequest['params'],
    options: CallOptions,
  ): Promise<CreateTaskResult> {
    return this.run(`tools/call ${params.name} (as a task)`, (client) =>
      client.request('tools/call', params, CreateTaskResultSchema, this.options(options)),
    );
  }

  /** tasks/get, tasks/result or tasks/cancel of one of the upstream's own tasks. */
  taskRequest(
    method: TaskMethod,
    params: { taskId: string; _meta?: Record<string, unknown> },
    options: CallOptions,
  ): Promise<Record<string, unknown>> {
    return this.run(method, (client) =>
      client.request(method, params, TASK_RESULT_SCHEMAS[method], this.options(options)),
    );
  }

  async close(): Promise<void> {
    this.stateValue = 'closed';
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => undefined);
  }
}
