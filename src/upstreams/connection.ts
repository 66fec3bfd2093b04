// One live MCP client connection to one upstream server (a stdio child or a Streamable
// HTTP endpoint). It restarts itself with exponential backoff when the child exits or the
// connection drops; while it is down every call fails at once with a clear reason. Nothing
// from a request ever reaches the command line, the environment or the headers: they come
// from the configuration only.
import { EventEmitter } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ErrorCode,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type CallToolRequest,
  type CallToolResult,
  type GetPromptRequest,
  type GetPromptResult,
  type ReadResourceRequest,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../config/load.js';
import { readValue } from '../config/secrets.js';
import type { Logger } from '../util/logger.js';
import { GATEWAY_VERSION } from '../util/version.js';
import { RpcError } from '../util/rpc-error.js';
import type { ServerCatalog } from './catalog.js';
import { HttpClientTransport } from './http-client-transport.js';
import { callCredential } from '../credentials/call-context.js';

export type ConnectionState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';
export type ListKind = 'tools' | 'prompts' | 'resources';

/** The upstream cannot take calls right now; the message says why and what happens next. */
export class UpstreamUnavailableError extends Error {}

/** Pages through a cursor-paginated list to the end (bounded, against a looping server). */
async function readAllPages<T>(
  fetchPage: (
    cursor: string | undefined,
  ) => Promise<{ items: T[]; nextCursor?: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await fetchPage(cursor);
    items.push(...result.items);
    if (!result.nextCursor) return items;
    cursor = result.nextCursor;
  }
  throw new Error('upstream returned more than 1000 pages');
}

/**
 * The SDK runs notification handlers one microtask after a message arrives but settles a
 * response at once, deleting the request's progress handler. A progress update followed
 * immediately by its result (one read from a stdio pipe) is then dropped. Delivering
 * responses one microtask later restores wire order.
 */
export function keepNotificationsBeforeResponses(transport: Transport): void {
  const deliver = transport.onmessage;
  if (!deliver) return;
  transport.onmessage = (message, extra) => {
    if ('result' in message || 'error' in message) {
      queueMicrotask(() => deliver(message, extra));
    } else {
      deliver(message, extra);
    }
  };
}

export interface UpstreamConnectionEvents {
  ready: [];
  down: [reason: string];
  listChanged: [kind: ListKind];
}

export class UpstreamConnection extends EventEmitter<UpstreamConnectionEvents> {
  private client: Client | undefined;
  private stateValue: ConnectionState = 'idle';
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastError = '';
  private connecting: Promise<void> | undefined;

  constructor(
    readonly config: UpstreamConfig,
    private readonly logger: Logger,
    /** For logs: "shared" or the session the connection belongs to. */
    private readonly owner: string,
    /** Per-session connections: a private scratch directory for the child (see below). */
    private readonly sessionDir?: string,
    /**
     * Credential headers for requests outside a call (connect, lists, streams): HTTP only.
     * Inside a call the call's own credential (callCredential) is used instead.
     */
    private readonly connectionHeaders?: () => Promise<Record<string, string>>,
  ) {
    super();
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

  /** Connects; on failure schedules retries and rejects with the first error. */
  start(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.reject(new Error('connection is closed'));
    if (this.stateValue === 'ready') return Promise.resolve();
    this.connecting ??= this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private buildTransport(): Transport {
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
    return new HttpClientTransport(new URL(this.config.url), {
      headers,
      credentials: () => this.credentialHeaders(),
    });
  }

  private async connectOnce(): Promise<void> {
    this.stateValue = 'connecting';
    const client = new Client({ name: 'mcpgate', version: GATEWAY_VERSION }, { capabilities: {} });
    try {
      const transport = this.buildTransport();
      client.onclose = () => this.onClosed(client, 'connection closed');
      client.onerror = (err) => {
        this.logger.debug('upstream transport error', { upstream: this.name, error: err.message });
      };
      await client.connect(transport, { timeout: this.config.timeoutMs });
      keepNotificationsBeforeResponses(transport);
    } catch (err) {
      const message = (err as Error).message;
      await client.close().catch(() => undefined);
      this.scheduleRetry(`cannot connect: ${message}`);
      throw new UpstreamUnavailableError(
        `upstream ${this.name} is unavailable: cannot connect: ${message}`,
      );
    }
    if (this.isClosed()) {
      await client.close().catch(() => undefined);
      return;
    }
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      this.emit('listChanged', 'tools');
    });
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => {
      this.emit('listChanged', 'prompts');
    });
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
      this.emit('listChanged', 'resources');
    });
    clearTimeout(this.retryTimer);
    this.client = client;
    this.stateValue = 'ready';
    this.attempts = 0;
    this.lastError = '';
    this.logger.info('upstream connected', { upstream: this.name, owner: this.owner });
    this.emit('ready');
  }

  private onClosed(client: Client, reason: string): void {
    if (this.client !== client || this.stateValue === 'closed') return;
    this.client = undefined;
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    if (this.stateValue === 'closed') return;
    this.lastError = reason;
    this.stateValue = 'backoff';
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

  private requireClient(): Client {
    if (this.client && this.stateValue === 'ready') return this.client;
    const why = this.lastError ? `: ${this.lastError}` : '';
    throw new UpstreamUnavailableError(
      `upstream ${this.name} is unavailable${why}; it is being restarted, retry shortly`,
    );
  }

  /** The last credential a call used: later requests outside a call (streams) reuse it. */
  private lastCallHeaders: Record<string, string> | undefined;

  /** The credential of the call in flight, else the last call's, else the connection's. */
  private credentialHeaders(): Record<string, string> | Promise<Record<string, string>> {
    const inCall = callCredential.getStore();
    if (inCall) {
      this.lastCallHeaders = inCall;
      return inCall;
    }
    return this.lastCallHeaders ?? this.connectionHeaders?.() ?? {};
  }

  /** Runs one upstream request, turning transport failures into clear errors. */
  private async run<T>(what: string, request: (client: Client) => Promise<T>): Promise<T> {
    const client = this.requireClient();
    try {
      return await request(client);
    } catch (err) {
      if (err instanceof McpError && err.code === (ErrorCode.ConnectionClosed as number)) {
        throw new UpstreamUnavailableError(
          `upstream ${this.name} disconnected during ${what}; it is being restarted. ` +
            'The call may or may not have taken effect.',
        );
      }
      if (err instanceof McpError && err.code === (ErrorCode.RequestTimeout as number)) {
        throw new RpcError(
          err.code,
          `upstream ${this.name} did not answer ${what} within ${Math.round(this.config.timeoutMs / 1000)} s`,
        );
      }
      // The upstream's own JSON-RPC error: pass code, message and data through. SDK-based
      // servers already send "MCP error <code>: ..." and McpError adds one more; the client's
      // SDK adds its own, so every copy is removed here.
      if (err instanceof McpError) {
        throw new RpcError(err.code, err.message.replace(/^(MCP error -?\d+: )+/, ''), err.data);
      }
      // Not a JSON-RPC error: the transport itself failed (HTTP error, expired session).
      this.restartAfterFailure(`${what} failed: ${(err as Error).message}`);
      throw new UpstreamUnavailableError(
        `upstream ${this.name} failed during ${what}: ${(err as Error).message}; reconnecting`,
      );
    }
  }

  async fetchCatalog(): Promise<ServerCatalog> {
    return this.run('catalog refresh', async (client) => {
      const caps = client.getServerCapabilities() ?? {};
      const tools = caps.tools
        ? await readAllPages(async (cursor) => {
            const r = await client.listTools(cursor ? { cursor } : undefined);
            return { items: r.tools, nextCursor: r.nextCursor };
          })
        : [];
      const prompts = caps.prompts
        ? await readAllPages(async (cursor) => {
            const r = await client.listPrompts(cursor ? { cursor } : undefined);
            return { items: r.prompts, nextCursor: r.nextCursor };
          })
        : [];
      const resources = caps.resources
        ? await readAllPages(async (cursor) => {
            const r = await client.listResources(cursor ? { cursor } : undefined);
            return { items: r.resources, nextCursor: r.nextCursor };
          })
        : [];
      const templates = caps.resources
        ? await readAllPages(async (cursor) => {
            const r = await client.listResourceTemplates(cursor ? { cursor } : undefined);
            return { items: r.resourceTemplates, nextCursor: r.nextCursor };
          })
        : [];
      return { server: this.name, tools, prompts, resources, templates };
    });
  }

  private options(extra: RequestOptions): RequestOptions {
    return { timeout: this.config.timeoutMs, resetTimeoutOnProgress: true, ...extra };
  }

  callTool(params: CallToolRequest['params'], options: RequestOptions): Promise<CallToolResult> {
    return this.run(
      `tools/call ${params.name}`,
      (client) =>
        client.callTool(params, undefined, this.options(options)) as Promise<CallToolResult>,
    );
  }

  readResource(
    params: ReadResourceRequest['params'],
    options: RequestOptions,
  ): Promise<ReadResourceResult> {
    return this.run('resources/read', (client) =>
      client.readResource(params, this.options(options)),
    );
  }

  getPrompt(params: GetPromptRequest['params'], options: RequestOptions): Promise<GetPromptResult> {
    return this.run(`prompts/get ${params.name}`, (client) =>
      client.getPrompt(params, this.options(options)),
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
