// The sessions this process serves right now. A session lives in the store; here is only
// what cannot leave the process: its MCP Server and transport, and (through the registry)
// its own upstream connections. Sessions opened here keep their transport here; sessions
// of other replicas served here are only noted (visit), to release their upstream children
// when idle. Ending a session here
// releases those parts; terminating it also removes it from the store and tells every
// replica (the store's termination events).
import { randomBytes } from 'node:crypto';
import type { SessionStore } from '../sessions/store.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';
import type { ListKind } from '../upstreams/connection.js';
import type { Logger } from '../util/logger.js';
import type { Caller } from '../identity/caller.js';
import type { LoadedSession } from '../sessions/store.js';
import type { NodeStreamableHttpTransport } from '../mcp/server/http-transport.js';
import type { GatewaySessionRpc, ListenStream, SessionRequest } from '../pipeline/methods.js';
import type { ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { SessionChannel, SessionChannels } from '../pipeline/upstream-messages.js';

export interface LiveSession {
  id: string;
  principal: string;
  server: GatewaySessionRpc;
  transport: NodeStreamableHttpTransport<SessionRequest>;
  /** Epoch ms when this process opened it (mcp_server_session_duration_seconds). */
  openedAt: number;
  lastSeenAt: number;
  /** The client declared URL elicitation (it is told when an approval settles). */
  urlElicitation: boolean;
  /** Who made the session's latest request here, and the session as it loaded it. */
  caller: Caller;
  session: LoadedSession;
}

/**
 * 256 random bits, URL-safe: unguessable and valid in the Mcp-Session-Id header. The "s"
 * in front keeps it from starting with "-", which command lines would read as an option.
 */
export function newSessionId(): string {
  return `s${randomBytes(32).toString('base64url')}`;
}

export class SessionManager implements SessionChannels {
  private readonly live = new Map<string, LiveSession>();
  /** Sessions of other replicas served here: when each was last used (for cleanup). */
  private readonly visitors = new Map<string, number>();
  /** Requests of other replicas' sessions being served here now, per session. */
  private readonly visiting = new Map<string, number>();
  private pending = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** subscriptions/listen streams open here (MCP 2026-07-28), by session. */
  private readonly listeners = new Map<string, Set<ListenStream>>();
  /** Told how long each session opened here lived, in seconds, when it ends here. */
  onSessionEnded: ((seconds: number) => void) | undefined;
  /** Told when a session ends here (its subscriptions, tasks, log level, questions go). */
  private readonly endedListeners: Array<(id: string) => Promise<void> | void> = [];

  constructor(
    private readonly limits: { maxSessions: number; idleTimeoutMs: number },
    private readonly registry: UpstreamRegistry,
    private readonly store: SessionStore,
    private readonly logger: Logger,
  ) {
    const every = Math.max(250, Math.min(limits.idleTimeoutMs / 4, 30_000));
    this.sweeper = setInterval(() => this.expireIdle(), every);
    this.sweeper.unref();
    registry.on('catalogChanged', (kinds) => this.notifyListChanged(kinds));
    store.onTerminated((id, reason) => void this.endLocal(id, reason));
  }

  get size(): number {
    return this.live.size;
  }

  /** Reserves a slot for a session being set up; false when the cap is reached. */
  reserve(): boolean {
    if (this.live.size + this.pending >= this.limits.maxSessions) return false;
    this.pending++;
    return true;
  }

  release(): void {
    this.pending = Math.max(0, this.pending - 1);
  }

  add(entry: LiveSession): void {
    this.live.set(entry.id, entry);
    this.logger.info('session opened', {
      session: entry.id.slice(0, 8),
    });
  }

  /** Notes that this process served a request of another replica's session. */
  visit(id: string): void {
    this.visitors.set(id, Date.now());
  }

  /**
   * A request of another replica's session starts here: false when that session already
   * has `max` requests being served here (the request must be refused). Pair with endVisit.
   */
  beginVisit(id: string, max: number): boolean {
    const now = this.visiting.get(id) ?? 0;
    if (now >= max) return false;
    this.visiting.set(id, now + 1);
    return true;
  }

  endVisit(id: string): void {
    const now = (this.visiting.get(id) ?? 1) - 1;
    if (now <= 0) this.visiting.delete(id);
    else this.visiting.set(id, now);
  }

  /** Requests of other replicas' sessions being served here now, for one session. */
  visitingNow(id: string): number {
    return this.visiting.get(id) ?? 0;
  }

  /** Calls `listener` for every session that ends in this process, as it ends. */
  onEnded(listener: (id: string) => Promise<void> | void): void {
    this.endedListeners.push(listener);
  }

  /**
   * A notification for one session, on its own stream (the GET stream, when the client has
   * one open here). Nothing is sent for a session this process does not hold.
   */
  async notify(id: string, notification: ServerNotification): Promise<void> {
    await this.live.get(id)?.server.send(notification);
    if (notification.method !== 'notifications/resources/updated') return;
    for (const stream of this.listeners.get(id) ?? []) {
      if (stream.resources) await stream.send(notification).catch(() => undefined);
    }
  }

  /** Listen: a session's subscriptions/listen stream gets its notifications until removed. */
  listen(id: string, stream: ListenStream): () => void {
    let streams = this.listeners.get(id);
    if (!streams) this.listeners.set(id, (streams = new Set()));
    streams.add(stream);
    return () => {
      streams.delete(stream);
      if (streams.size === 0 && this.listeners.get(id) === streams) this.listeners.delete(id);
    };
  }

  get(id: string): LiveSession | undefined {
    const entry = this.live.get(id);
    if (entry) entry.lastSeenAt = Date.now();
    return entry;
  }

  /**
   * SessionChannels: a session held here, as what an upstream sends for it needs it: the
   * caller of its latest request and its own stream. Not a use of the session.
   */
  channel(id: string): SessionChannel | undefined {
    const entry = this.live.get(id);
    if (!entry) return undefined;
    const { server } = entry;
    return {
      caller: entry.caller,
      session: entry.session,
      exchange: {
        cancellation: undefined,
        sendNotification: (notification) => server.send(notification),
        sendRequest: (request, cancellation) =>
          server.requestClient(request, undefined, cancellation),
      },
    };
  }

  /** Ends a session everywhere: removed from the store, every replica releases it. */
  async terminate(id: string, reason: string): Promise<void> {
    try {
      await this.store.terminate(id, reason);
    } finally {
      await this.endLocal(id, reason);
    }
  }

  /** Releases what this process holds for a session; safe to call more than once. */
  async endLocal(id: string, reason: string): Promise<void> {
    this.visitors.delete(id);
    const entry = this.live.get(id);
    if (entry) {
      this.live.delete(id);
      this.onSessionEnded?.((Date.now() - entry.openedAt) / 1000);
      this.logger.info('session ended here', { session: id.slice(0, 8), reason });
      await entry.transport.close().catch(() => undefined);
      await entry.server.close().catch(() => undefined);
    }
    await Promise.all(this.endedListeners.map(async (listener) => listener(id)));
    await this.registry.releaseSession(id);
  }

  /** Local idleness only frees this process's parts; the store expires the session itself. */
  private expireIdle(): void {
    const cutoff = Date.now() - this.limits.idleTimeoutMs;
    for (const [id, entry] of this.live) {
      if (entry.lastSeenAt < cutoff) void this.endLocal(id, 'idle here');
    }
    for (const [id, lastSeenAt] of this.visitors) {
      if (lastSeenAt < cutoff) void this.endLocal(id, 'idle here');
    }
  }

  /**
   * An approval of this session was decided or expired: a client that declared URL
   * elicitation hears `notifications/elicitation/complete` on the session's own stream (when
   * this process holds it and the client has that stream open), so it can retry the call.
   */
  approvalSettled(sessionId: string, approvalId: string): void {
    const entry = this.live.get(sessionId);
    if (!entry?.urlElicitation) return;
    void entry.server
      .send({
        method: 'notifications/elicitation/complete',
        params: { elicitationId: approvalId },
      })
      .catch(() => undefined);
  }

  private notifyListChanged(kinds: Set<ListKind>): void {
    for (const streams of this.listeners.values()) {
      for (const stream of streams) {
        for (const kind of kinds) {
          if (!stream.lists.has(kind)) continue;
          const method = `notifications/${kind}/list_changed` as const;
          void stream.send({ method }).catch(() => undefined);
        }
      }
    }
    for (const entry of this.live.values()) {
      const { server } = entry;
      if (kinds.has('tools'))
        void server.notify('notifications/tools/list_changed').catch(() => undefined);
      if (kinds.has('prompts'))
        void server.notify('notifications/prompts/list_changed').catch(() => undefined);
      if (kinds.has('resources'))
        void server.notify('notifications/resources/list_changed').catch(() => undefined);
    }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all(
      [...this.live.keys()].map((id) => this.endLocal(id, 'gateway shutting down')),
    );
  }
}
