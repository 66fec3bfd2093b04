// All upstream servers and the federated catalog built from them. Each upstream has one
// shared connection (which also serves catalog reads); upstreams marked
// `isolation: per-session` additionally get a connection of their own for every session
// that calls them, closed when the session ends.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpstreamConfig } from '../config/load.js';
import type { ToolTrustConfig } from '../config/tool-trust-schema.js';
import { DEFAULT_TOOL_TRUST, resolveToolTrust } from '../config/tool-trust-schema.js';
import type { Logger } from '../util/logger.js';
import { baselineKey, Catalog, type ServerCatalog } from './catalog.js';
import type { CredentialBroker } from '../credentials/broker.js';
import { capabilitiesFor } from './client-capabilities.js';
import {
  UpstreamConnection,
  UpstreamUnavailableError,
  type ListKind,
  type UpstreamPeer,
} from './connection.js';
import { McpgateError } from '../util/errors.js';
import { assessLists, itemKey } from './trust/assess.js';
import { listDrift } from './trust/drift.js';
import type { CatalogKind, Fingerprint } from './trust/fingerprint.js';
import { identityGate, type IdentityGate, type UpstreamRegistryData } from './trust/identity.js';

export class CatalogError extends McpgateError {
  static override readonly code = 'ERR_CATALOG_CONFLICT';
}

export interface UpstreamStatus {
  name: string;
  transport: 'stdio' | 'http' | 'sse';
  isolation: 'shared' | 'per-session';
  state: string;
  last_error?: string;
  /** Why the last read of its lists failed (a bound broken, an answer that is not a list). */
  catalog_error?: string;
  /** Items left out of its lists (too deep or too large to fingerprint), at most ten. */
  left_out?: string[];
  /** Why the upstream registry refused it (tool_trust.registry: enforce). */
  refused?: string;
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

/** Items named in /readyz per upstream; the log has every one. */
const MAX_LEFT_OUT_SHOWN = 10;

const ALL_LISTS: readonly ListKind[] = ['tools', 'prompts', 'resources'];

/** One item of a server's lists by its assessment key (trust/assess.ts itemKey). */
function itemByKey(s: ServerCatalog, key: string): object | undefined {
  const find = <T>(kind: CatalogKind, items: T[], nameOf: (item: T) => string): T | undefined =>
    items.find((item) => itemKey(kind, nameOf(item)) === key);
  return (
    find('tool', s.tools, (t) => t.name) ??
    find('prompt', s.prompts, (p) => p.name) ??
    find('resource', s.resources, (r) => r.uri) ??
    find('resource_template', s.templates, (t) => t.uriTemplate)
  );
}

export interface RegistryEvents {
  catalogChanged: [kinds: Set<ListKind>];
}

export class UpstreamRegistry extends EventEmitter<RegistryEvents> {
  /**
   * Serves what upstreams send of their own accord (the pipeline's server-to-client chains
   * and log relay) on every connection; set once the pipeline exists. Until then such
   * requests are refused.
   */
  peer: UpstreamPeer | undefined;
  private readonly shared = new Map<string, UpstreamConnection>();
  private readonly perSession = new Map<string, Map<string, UpstreamConnection>>();
  private readonly sessionDirs = new Map<string, string>();
  private readonly snapshots = new Map<string, ServerCatalog>();
  /** Per upstream: items its last read left out, why its last read failed. */
  private readonly leftOut = new Map<string, string[]>();
  private readonly catalogErrors = new Map<string, string>();
  /** The first fingerprint seen of each item since start (trust on first use, no pin). */
  private readonly baselines = new Map<string, Fingerprint>();
  /** Refreshes in progress, by upstream, and those asked for meanwhile. */
  private readonly refreshing = new Map<string, Promise<void>>();
  private readonly refreshAgain = new Map<string, Set<ListKind>>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private catalogValue = new Catalog();
  private started = false;
  private readonly probes = new Map<string, ProbeResult>();
  private readonly probeTimers: NodeJS.Timeout[] = [];

  constructor(
    private readonly configs: UpstreamConfig[],
    private readonly logger: Logger,
    private readonly broker: CredentialBroker,
    private readonly trust: ToolTrustConfig = resolveToolTrust(DEFAULT_TOOL_TRUST),
    /** The upstream registry of the policy in force (undefined: no policy is loaded). */
    private readonly registryData: () => UpstreamRegistryData | undefined = () => undefined,
  ) {
    super();
  }

  /** The registry's checks of one upstream; none when tool_trust.registry is off. */
  private gateFor(config: UpstreamConfig): IdentityGate | undefined {
    return this.trust.registry === 'enforce' ? identityGate(config, this.registryData) : undefined;
  }

  /** Checks every connected upstream again, after a policy with another registry came in force. */
  recheckIdentities(): void {
    for (const connection of this.shared.values()) connection.recheckIdentity();
    for (const connections of this.perSession.values()) {
      for (const connection of connections.values()) connection.recheckIdentity();
    }
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
      const connection = new UpstreamConnection(
        config,
        this.logger,
        'shared',
        undefined,
        () => this.broker.connectionHeaders(config.name, config.credential),
        undefined,
        capabilitiesFor(config, undefined),
        this.gateFor(config),
      );
      connection.peers = this;
      connection.on('ready', () => {
        // A health check failed before this reconnect says nothing about the new connection.
        this.probes.delete(config.name);
        if (this.started) void this.refresh(config.name, new Set(ALL_LISTS), 'reconnect');
      });
      connection.on(
        'listChanged',
        (kind) => void this.refresh(config.name, new Set([kind]), `${kind} list_changed`),
      );
      this.shared.set(config.name, connection);
    }
    await Promise.all(
      [...this.shared.values()].map(async (connection) => {
        try {
          await connection.start();
          this.snapshots.set(connection.name, await this.readLists(connection));
        } catch (err) {
          this.logger.error('upstream not available at start-up', {
            upstream: connection.name,
            error: (err as Error).message,
          });
        }
      }),
    );
    const { catalog, problems } = Catalog.build(this.orderedSnapshots(), this.baselines);
    if (problems.length > 0) {
      throw new CatalogError(
        `cannot build the tool catalog:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    }
    this.install(catalog);
    this.started = true;
    if (this.trust.refreshIntervalMs > 0) {
      // The periodic re-read catches a server that changes its lists without saying so.
      this.refreshTimer = setInterval(() => this.refreshAll(), this.trust.refreshIntervalMs);
      this.refreshTimer.unref();
    }
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

  /**
   * Reads one upstream's lists and assesses every item (fingerprint and scan, once here,
   * never per call). Items that cannot be fingerprinted are left out and logged; a read
   * that fails is recorded for /readyz and thrown.
   */
  private async readLists(connection: UpstreamConnection): Promise<ServerCatalog> {
    let lists: ServerCatalog;
    try {
      lists = await connection.fetchCatalog(this.trust.maxListItems);
    } catch (err) {
      this.catalogErrors.set(connection.name, (err as Error).message);
      throw err;
    }
    this.catalogErrors.delete(connection.name);
    const assessed = assessLists(connection.name, lists, {
      maxDepth: 64,
      maxSize: this.trust.maxDefinitionBytes,
    });
    for (const problem of assessed.leftOut) {
      this.logger.error('catalog item left out', { upstream: connection.name, problem });
    }
    this.leftOut.set(connection.name, assessed.leftOut);
    const { tools, prompts, resources, templates, assessments } = assessed;
    return { ...lists, tools, prompts, resources, templates, assessments };
  }

  /** Puts a new catalog in force and remembers the first fingerprint of each new item. */
  private install(catalog: Catalog): void {
    for (const item of catalog.items()) {
      const key = baselineKey(item.trust.kind, item.id);
      if (!this.baselines.has(key)) this.baselines.set(key, item.trust.fingerprint);
    }
    this.catalogValue = catalog;
  }

  /** The periodic re-read: every upstream that is connected. */
  private refreshAll(): void {
    for (const [name, connection] of this.shared) {
      if (connection.state === 'ready') void this.refresh(name, new Set(ALL_LISTS), 'periodic');
    }
  }

  private orderedSnapshots(): ServerCatalog[] {
    return this.configs
      .map((c) => this.snapshots.get(c.name))
      .filter((s): s is ServerCatalog => s !== undefined);
  }

  /**
   * Re-reads one upstream's lists (list_changed, a reconnect, the periodic refresh) and
   * logs what changed. One read per upstream at a time: a request during a read is served
   * by one more read after it.
   */
  private refresh(server: string, kinds: Set<ListKind>, why: string): Promise<void> {
    const running = this.refreshing.get(server);
    if (running !== undefined) {
      const again = this.refreshAgain.get(server) ?? new Set<ListKind>();
      for (const kind of kinds) again.add(kind);
      this.refreshAgain.set(server, again);
      return running;
    }
    const run = this.refreshOnce(server, kinds, why).finally(() => {
      this.refreshing.delete(server);
      const again = this.refreshAgain.get(server);
      if (again !== undefined) {
        this.refreshAgain.delete(server);
        void this.refresh(server, again, why);
      }
    });
    this.refreshing.set(server, run);
    return run;
  }

  private async refreshOnce(server: string, kinds: Set<ListKind>, why: string): Promise<void> {
    const connection = this.shared.get(server);
    if (!connection || connection.state === 'closed') return;
    const before = this.snapshots.get(server);
    let after: ServerCatalog;
    try {
      after = await this.readLists(connection);
    } catch (err) {
      this.logger.warn('catalog refresh failed', {
        upstream: server,
        reason: why,
        error: (err as Error).message,
      });
      return;
    }
    this.snapshots.set(server, after);
    this.logDrift(server, why, before, after);
    const { catalog, problems } = Catalog.build(this.orderedSnapshots(), this.baselines);
    for (const problem of problems) {
      this.logger.error('catalog item left out', { upstream: server, problem });
    }
    this.install(catalog);
    this.emit('catalogChanged', kinds);
  }

  /**
   * Drift between two reads of a server's lists: a changed definition is a warning with a
   * bounded diff of each changed field (a rug pull shows here); added and removed items
   * are noted.
   */
  private logDrift(
    server: string,
    why: string,
    before: ServerCatalog | undefined,
    after: ServerCatalog,
  ): void {
    if (before?.assessments === undefined || after.assessments === undefined) return;
    const { drift, more } = listDrift(
      before.assessments,
      after.assessments,
      (key) => itemByKey(before, key),
      (key) => itemByKey(after, key),
    );
    for (const d of drift) {
      if (d.change === 'changed') {
        this.logger.warn('catalog item changed', {
          upstream: server,
          reason: why,
          kind: d.kind,
          name: d.name,
          changed: d.fields,
          diff: d.diff,
        });
      } else {
        this.logger.info(`catalog item ${d.change}`, {
          upstream: server,
          reason: why,
          kind: d.kind,
          name: d.name,
        });
      }
    }
    if (more > 0) {
      this.logger.warn('catalog drift not described in full', {
        upstream: server,
        reason: why,
        more_items: more,
      });
    }
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
      const catalogError = this.catalogErrors.get(config.name);
      if (catalogError !== undefined) status.catalog_error = catalogError;
      if (connection?.refusal !== undefined) status.refused = connection.refusal;
      const leftOut = this.leftOut.get(config.name) ?? [];
      if (leftOut.length > 0) status.left_out = leftOut.slice(0, MAX_LEFT_OUT_SHOWN);
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
   * call connects with it, declaring the client capabilities `clientCapabilities` (what the
   * session's client declared) allow.
   */
  async connectionFor(
    server: string,
    sessionId: string,
    headers?: Record<string, string>,
    headersExpireAt?: number,
    clientCapabilities: Record<string, unknown> = {},
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
        sessionId,
        capabilitiesFor(config, clientCapabilities),
        this.gateFor(config),
      );
      connection.peers = this;
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
    clearInterval(this.refreshTimer);
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
