// Live downstream sessions: each is a Session (policy facts), its MCP Server and its
// Streamable HTTP transport. Enforces the session cap, expires idle sessions, and releases
// everything a session holds (transport streams, per-session upstream children) when it ends.
import { randomBytes } from 'node:crypto';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Session } from '../sessions/session.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';
import type { ListKind } from '../upstreams/connection.js';
import type { Logger } from '../util/logger.js';

export interface LiveSession {
  session: Session;
  server: Server;
  transport: StreamableHTTPServerTransport;
  initialized: boolean;
}

/** 256 random bits, URL-safe: unguessable and valid in the Mcp-Session-Id header. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

export class SessionManager {
  private readonly live = new Map<string, LiveSession>();
  private pending = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limits: { maxSessions: number; idleTimeoutMs: number },
    private readonly registry: UpstreamRegistry,
    private readonly logger: Logger,
  ) {
    const every = Math.max(250, Math.min(limits.idleTimeoutMs / 4, 30_000));
    this.sweeper = setInterval(() => this.expireIdle(), every);
    this.sweeper.unref();
    registry.on('catalogChanged', (kinds) => this.notifyListChanged(kinds));
  }

  get size(): number {
    return this.live.size;
  }

  /** Reserves a slot for a session being initialized; false when the cap is reached. */
  reserve(): boolean {
    if (this.live.size + this.pending >= this.limits.maxSessions) return false;
    this.pending++;
    return true;
  }

  release(): void {
    this.pending = Math.max(0, this.pending - 1);
  }

  add(entry: LiveSession): void {
    this.live.set(entry.session.id, entry);
    this.logger.info('session opened', {
      session: entry.session.id.slice(0, 8),
      purpose: entry.session.purpose,
    });
  }

  get(id: string): LiveSession | undefined {
    return this.live.get(id);
  }

  /** Ends a session everywhere it lives; safe to call more than once. */
  async end(id: string, reason: string): Promise<void> {
    const entry = this.live.get(id);
    if (!entry) return;
    this.live.delete(id);
    this.logger.info('session ended', { session: id.slice(0, 8), reason });
    await entry.transport.close().catch(() => undefined);
    await entry.server.close().catch(() => undefined);
    await this.registry.releaseSession(id);
  }

  private expireIdle(): void {
    const cutoff = Date.now() - this.limits.idleTimeoutMs;
    for (const [id, entry] of this.live) {
      if (entry.session.lastSeenAt < cutoff) void this.end(id, 'idle timeout');
      else if (entry.session.expired()) void this.end(id, 'session TTL reached');
    }
  }

  private notifyListChanged(kinds: Set<ListKind>): void {
    for (const entry of this.live.values()) {
      if (!entry.initialized) continue;
      if (kinds.has('tools')) void entry.server.sendToolListChanged().catch(() => undefined);
      if (kinds.has('prompts')) void entry.server.sendPromptListChanged().catch(() => undefined);
      if (kinds.has('resources'))
        void entry.server.sendResourceListChanged().catch(() => undefined);
    }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.live.keys()].map((id) => this.end(id, 'gateway shutting down')));
  }
}
