// All upstream servers and the federated catalog built from them. Each upstream has one
// shared connection (which also serves catalog reads); upstreams marked
// `isolation: per-session` additionally get a connection of their own for every session
// that calls them, closed when the session ends.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpstreamConfig } from '../config/load.js';
import type { Logger } from '../util/logger.js';
import { Catalog, type ServerCatalog } from './catalog.js';
import type { CredentialBroker } from '../credentials/broker.js';
import { UpstreamConnection, UpstreamUnavailableError, type ListKind } from './connection.js';
import { McpgateError } from '../util/errors.js';

export class CatalogError extends McpgateError {
  static override readonly code = 'ERR_CATALOG_CONFLICT';
}

export interface UpstreamStatus {
  name: string;
  transport: 'stdio' | 'http';
  isolation: 'shared' | 'per-session';
  state: string;
  last_error?: string;
  tools: number;
  /** Restarts of the shared connection since start. */
  restarts: number;
  /** The last health check (MCP ping), when the upstream has one. */
  health_check?: { ok: boolean; checked_at: string; error?: string };
}

/** The outcome of the last health check of one upstream. */
interface ProbeResult {
  ok: boolean;
  at: number;
  error?: string;
}

export interface RegistryEvents {
  catalogChanged: [kinds: Set<ListKind>];
}

export class UpstreamRegistry extends EventEmitter<RegistryEvents> {
  private readonly shared = new Map<string, UpstreamConnection>();
  private readonly perSession = new Map<string, Map<string, UpstreamConnection>>();
  private readonly sessionDirs = new Map<string, string>();
  private readonly snapshots = new Map<string, ServerCatalog>();
  private catalogValue = new Catalog();
  private started = false;
  private readonly probes = new Map<string, ProbeResult>();
  private readonly probeTimers: NodeJS.Timeout[] = [];

  constructor(
    private readonly configs: UpstreamConfig[],
    private readonly logger: Logger,
    private readonly broker: CredentialBroker,
  ) {
    super();
  }

  get catalog(): Catalog {
    return this.catalogValue;
  }

  /**
   * Connects every upstream and builds the catalog. Upstreams that cannot connect keep
   * retrying in the background (readiness reports them); a catalog that cannot be built
   * (name collisions, invalid names) stops the start-up with every problem named.
   */
  async start(): Promise<void> {
    for (const config of this.configs) {
      const connection = new UpstreamConnection(config, this.logger, 'shared', undefined, () =>
        this.broker.connectionHeaders(config.name, config.credential),
      );
      connection.on('ready', () => {
        // A health check failed before this reconnect says nothing about the new connection.
        this.probes.delete(config.name);
        if (this.started)
          void this.refresh(config.name, new Set(['tools', 'prompts', 'resources']));
      });
      connection.on('listChanged', (kind) => void this.refresh(config.name, new Set([kind])));
      this.shared.set(config.name, connection);
    }
    await Promise.all(
      [...this.shared.values()].map(async (connection) => {
        try {
          await connection.start();
          this.snapshots.set(connection.name, await connection.fetchCatalog());
        } catch (err) {
          this.logger.error('upstream not available at start-up', {
            upstream: connection.name,
            error: (err as Error).message,
          });
        }
      }),
    );
    const { catalog, problems } = Catalog.build(this.orderedSnapshots());
    if (problems.length > 0) {
      throw new CatalogError(
        `cannot build the tool catalog:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    }
    this.catalogValue = catalog;
    this.started = true;
    for (const connection of this.shared.values()) this.startProbe(connection);
  }

  /**
   * Readiness: an MCP ping on the shared connection every interval; no answer within the
   * timeout (a hung server: SIGSTOP, a deadlock) marks the upstream not ready until one is
   * answered again. One ping at a time; a connection that is down is not pinged (its state
   * says so already).
   */
  private startProbe(connection: UpstreamConnection): void {
    const { intervalMs, timeoutMs } = connection.config.healthCheck;
    if (intervalMs <= 0) return;
    let inFlight = false;
    const timer = setInterval(() => {
      if (inFlight || connection.state !== 'ready') return;
      inFlight = true;
      connection.ping(timeoutMs).then(
        () => {
          const before = this.probes.get(connection.name);
          if (before !== undefined && !before.ok) {
            this.logger.info('upstream answers its health check again', {
              upstream: connection.name,
            });
          }
          this.probes.set(connection.name, { ok: true, at: Date.now() });
          inFlight = false;
        },
        (err: unknown) => {
          const error = err instanceof Error ? err.message : String(err);
          if (this.probes.get(connection.name)?.ok !== false) {
            this.logger.warn('upstream failed its health check; not ready', {
              upstream: connection.name,
              error,
            });
          }
          this.probes.set(connection.name, { ok: false, at: Date.now(), error });
          inFlight = false;
        },
      );
    }, intervalMs);
    timer.unref();
    this.probeTimers.push(timer);
  }

  /** Why an upstream cannot serve now (down, never read, failed its health check); undefined when it can. */
  private notReadyReason(name: string): string | undefined {
    const connection = this.shared.get(name);
    if (!this.snapshots.has(name)) {
      const why = connection?.lastErrorMessage;
      return `not connected and read yet${why ? `: ${why}` : ''}`;
    }
    if (connection !== undefined && connection.state !== 'ready') {
      const why = connection.lastErrorMessage;
      return `${connection.state}${why ? `: ${why}` : ''}`;
    }
    const probe = this.probes.get(name);
    // A probe result from before the connection came back up says nothing about it now.
    if (probe !== undefined && !probe.ok) return probe.error;
    return undefined;
  }

  /** Every upstream that cannot serve now, with why. */
  notReady(): Array<{ upstream: string; reason: string }> {
    const out: Array<{ upstream: string; reason: string }> = [];
    for (const config of this.configs) {
      const reason = this.notReadyReason(config.name);
      if (reason !== undefined) out.push({ upstream: config.name, reason });
    }
    return out;
  }

  private orderedSnapshots(): ServerCatalog[] {
    return this.configs
      .map((c) => this.snapshots.get(c.name))
      .filter((s): s is ServerCatalog => s !== undefined);
  }

  /** Re-reads one upstream's lists after list_changed or a reconnect. */
  private async refresh(server: string, kinds: Set<ListKind>): Promise<void> {
    const connection = this.shared.get(server);
    if (!connection) return;
    try {
      this.snapshots.set(server, await connection.fetchCatalog());
    } catch (err) {
      this.logger.warn('catalog refresh failed', {
        upstream: server,
        error: (err as Error).message,
      });
      return;
    }
    const { catalog, problems } = Catalog.build(this.orderedSnapshots());
    for (const problem of problems) {
      this.logger.error('catalog item left out', { upstream: server, problem });
    }
    this.catalogValue = catalog;
    this.emit('catalogChanged', kinds);
  }

  /**
   * Ready when every upstream has been read at least once, is connected, and answered its
   * last health check.
   */
  isReady(): boolean {
    return this.started && this.configs.every((c) => this.notReadyReason(c.name) === undefined);
  }

  status(): UpstreamStatus[] {
    return this.configs.map((config) => {
      const connection = this.shared.get(config.name);
      const status: UpstreamStatus = {
        name: config.name,
        transport: config.transport,
        isolation: config.isolation,
        state: connection?.state ?? 'idle',
        tools: this.snapshots.get(config.name)?.tools.length ?? 0,
        restarts: connection?.restartCount ?? 0,
      };
      if (connection?.lastErrorMessage) status.last_error = connection.lastErrorMessage;
      const probe = this.probes.get(config.name);
      if (probe !== undefined) {
        status.health_check = { ok: probe.ok, checked_at: new Date(probe.at).toISOString() };
        if (probe.error !== undefined) status.health_check.error = probe.error;
      }
      return status;
    });
  }

  /** True when `server` is a configured upstream (connected or not). */
  hasServer(server: string): boolean {
    return this.configs.some((c) => c.name === server);
  }

  configFor(server: string): UpstreamConfig | undefined {
    return this.configs.find((c) => c.name === server);
  }

  /**
   * The connection a session's call to `server` goes through. `headers` is the call's
   * credential (valid until `headersExpireAt`): a per-session connection opened by this
   * call connects with it.
   */
  async connectionFor(
    server: string,
    sessionId: string,
    headers?: Record<string, string>,
    headersExpireAt?: number,
  ): Promise<UpstreamConnection> {
    const shared = this.shared.get(server);
    if (!shared) throw new UpstreamUnavailableError(`upstream ${server} is not configured`);
    if (shared.config.isolation === 'shared') return shared;
    let connections = this.perSession.get(sessionId);
    if (!connections) {
      connections = new Map();
      this.perSession.set(sessionId, connections);
    }
    let connection = connections.get(server);
    if (!connection) {
      // Only stdio children get a scratch directory; an HTTP upstream has no use for one.
      let dir = this.sessionDirs.get(sessionId);
      if (dir === undefined && shared.config.transport === 'stdio') {
        dir = mkdtempSync(join(tmpdir(), 'mcpgate-session-'));
        this.sessionDirs.set(sessionId, dir);
      }
      // A static secret is the connection's own; a per-user credential comes with each call.
      const config = shared.config;
      connection = new UpstreamConnection(
        config,
        this.logger,
        `session ${sessionId.slice(0, 8)}`,
        dir,
        config.credential.type === 'static-secret'
          ? () => this.broker.connectionHeaders(config.name, config.credential)
          : undefined,
      );
      connections.set(server, connection);
      await connection.start(headers, headersExpireAt);
    } else if (connection.state !== 'ready') {
      await connection.start(headers, headersExpireAt).catch(() => undefined);
    }
    return connection;
  }

  /** Closes a session's own upstream connections (its stdio children exit). */
  async releaseSession(sessionId: string): Promise<void> {
    // Tokens first: a session may have exchanged some without a connection in this process.
    this.broker.dropSession(sessionId);
    const connections = this.perSession.get(sessionId);
    if (!connections) return;
    this.perSession.delete(sessionId);
    await Promise.all([...connections.values()].map((c) => c.close()));
    const dir = this.sessionDirs.get(sessionId);
    this.sessionDirs.delete(sessionId);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    for (const timer of this.probeTimers) clearInterval(timer);
    const all = [...this.shared.values()];
    for (const connections of this.perSession.values()) all.push(...connections.values());
    const sessions = [...this.perSession.keys()];
    this.perSession.clear();
    await Promise.all(all.map((c) => c.close()));
    for (const id of sessions) {
      const dir = this.sessionDirs.get(id);
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
    this.sessionDirs.clear();
  }
}
