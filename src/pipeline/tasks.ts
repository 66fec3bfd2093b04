// The tasks (MCP 2025-11-25, experimental) that task-augmented tools/calls created through
// this process, each bound to the session and principal that created it. The client only
// ever sees the gateway's own task id: an upstream's ids are its own (two upstreams, or two
// sessions' children, may use the same one) and, on a shared connection, another session's
// ids could be guessed. A request about a task of another session, or of another user, finds
// nothing, exactly as an id that never existed.
//
// The upstream's notifications/tasks/status go to the session that owns the task, under the
// gateway's id. A task is forgotten when its ttl (as the upstream gave it) is over or its
// session ends here.
import { randomBytes } from 'node:crypto';
import type { ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConnection } from '../upstreams/connection.js';
import type { BoundTask, SessionNotifier } from './context.js';

/** The most tasks one session may hold (in this process). */
export const MAX_TASKS_PER_SESSION = 100;

type NewTask = Omit<BoundTask, 'id'>;

export class TaskBindings {
  private readonly byId = new Map<string, BoundTask>();
  private readonly bySession = new Map<string, Set<string>>();
  /** For status notifications: each connection's tasks by the upstream's own id. */
  private readonly byUpstream = new Map<UpstreamConnection, Map<string, BoundTask>>();
  private readonly connectionOf = new Map<string, UpstreamConnection>();
  private readonly detach = new Map<UpstreamConnection, () => void>();

  constructor(private readonly notify: SessionNotifier) {}

  /** Binds a task the upstream created on `connection`; returns it with the gateway's id. */
  bind(connection: UpstreamConnection, task: NewTask): BoundTask {
    const bound: BoundTask = { ...task, id: `t${randomBytes(16).toString('base64url')}` };
    this.byId.set(bound.id, bound);
    let ids = this.bySession.get(bound.sessionId);
    if (!ids) this.bySession.set(bound.sessionId, (ids = new Set()));
    ids.add(bound.id);
    let upstream = this.byUpstream.get(connection);
    if (!upstream) {
      this.byUpstream.set(connection, (upstream = new Map<string, BoundTask>()));
      const listener = (status: Record<string, unknown>): void =>
        this.statusChanged(connection, status);
      connection.on('taskStatus', listener);
      this.detach.set(connection, () => connection.off('taskStatus', listener));
    }
    upstream.set(bound.upstreamId, bound);
    this.connectionOf.set(bound.id, connection);
    return bound;
  }

  /** The task with this id, if it belongs to this session and principal and is not over. */
  find(id: string, sessionId: string, principal: string): BoundTask | undefined {
    const bound = this.byId.get(id);
    if (!bound || bound.sessionId !== sessionId || bound.principal !== principal) return undefined;
    if (this.over(bound)) {
      this.forget(id);
      return undefined;
    }
    return bound;
  }

  /** A session's tasks, oldest first. */
  ofSession(sessionId: string): BoundTask[] {
    const tasks: BoundTask[] = [];
    for (const id of this.bySession.get(sessionId) ?? []) {
      const bound = this.byId.get(id);
      if (!bound) continue;
      if (this.over(bound)) this.forget(id);
      else tasks.push(bound);
    }
    return tasks;
  }

  count(sessionId: string): number {
    return this.ofSession(sessionId).length;
  }

  forget(id: string): void {
    const bound = this.byId.get(id);
    if (!bound) return;
    this.byId.delete(id);
    const ids = this.bySession.get(bound.sessionId);
    ids?.delete(id);
    if (ids?.size === 0) this.bySession.delete(bound.sessionId);
    const connection = this.connectionOf.get(id);
    this.connectionOf.delete(id);
    if (!connection) return;
    const upstream = this.byUpstream.get(connection);
    upstream?.delete(bound.upstreamId);
    if (upstream?.size === 0) {
      this.byUpstream.delete(connection);
      this.detach.get(connection)?.();
      this.detach.delete(connection);
    }
  }

  releaseSession(sessionId: string): void {
    for (const id of [...(this.bySession.get(sessionId) ?? [])]) this.forget(id);
  }

  private over(bound: BoundTask): boolean {
    return bound.expiresAt !== undefined && bound.expiresAt <= Date.now();
  }

  private statusChanged(connection: UpstreamConnection, status: Record<string, unknown>): void {
    const bound = this.byUpstream.get(connection)?.get(String(status.taskId));
    if (!bound) return; // not a task of a session here
    const params = { ...status, taskId: bound.id };
    void this.notify(bound.sessionId, {
      method: 'notifications/tasks/status',
      params,
    } as ServerNotification).catch(() => undefined);
  }
}
