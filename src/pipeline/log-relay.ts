// Upstream log messages (notifications/message) on their way to a session: the level the
// session asked for (logging/setLevel, kept per session in this process), the logger name
// namespaced with the server's, and, for messages from a shared connection, which the
// policy must allow, the servers whose messages this session may receive: one visible
// decision (notifications/message) per session and policy revision, made when the first
// such message arrives. Messages arriving while that decision is made wait in a bounded
// queue; what is dropped is counted (/readyz) and said in the gateway log.
import type { ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/logger.js';

export const LOG_LEVELS = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Messages of one session that may wait for its visible decision; more are dropped. */
export const MAX_QUEUED_LOG_MESSAGES = 256;
/** The gateway log says that messages were dropped at most this often. */
const DROP_WARNING_EVERY_MS = 60_000;

/** Why an upstream's notification did not reach a client. */
export type DropReason = 'unattributed' | 'not_visible' | 'queue_full' | 'invalid';

/** What the relay delivered and dropped since the start (shown in /readyz). */
export class UpstreamNotificationCounters {
  relayed = 0;
  readonly dropped: Record<DropReason, number> = {
    unattributed: 0,
    not_visible: 0,
    queue_full: 0,
    invalid: 0,
  };
}

/** Where one log message goes: its session, and how to send it there. */
export interface LogDestination {
  sessionId: string;
  /** Sends on the stream the message belongs to (a request's, or the session's own). */
  send(notification: ServerNotification): Promise<void>;
  /**
   * The message waits for the session's decision: `delivered` settles once it is sent or
   * dropped. The call it belongs to holds its answer until then, so its log messages come
   * first, as the upstream sent them.
   */
  hold?(delivered: Promise<void>): void;
}

interface Decided {
  kind: 'decided';
  revision: string | undefined;
  servers: ReadonlySet<string>;
}

interface Deciding {
  kind: 'deciding';
  revision: string | undefined;
  queue: Array<{ server: string; destination: LogDestination; notification: ServerNotification }>;
  /** Settles when the queue has been delivered (or dropped). */
  flushed: Promise<void>;
}

/**
 * The servers whose log messages reach a session over shared connections, as the policy
 * decides them (runs the notifications/message chain).
 */
export type DecideLogSources = (destination: LogDestination) => Promise<ReadonlySet<string>>;

export class LogRelay {
  private readonly levels = new Map<string, number>();
  private readonly visibility = new Map<string, Decided | Deciding>();
  private lastWarning = 0;

  constructor(
    private readonly decide: DecideLogSources,
    /** The revision of the policy in force: a new policy decides again. */
    private readonly revision: () => string | undefined,
    readonly counters: UpstreamNotificationCounters,
    private readonly logger: Logger,
  ) {}

  /** logging/setLevel: from now on this session gets messages at `level` or above. */
  setLevel(sessionId: string, level: LogLevel): void {
    this.levels.set(sessionId, LOG_LEVELS.indexOf(level));
  }

  /**
   * Relays one upstream log message. `shared`: it came over a shared connection, so the
   * policy decides whether this session may receive that server's messages.
   */
  relay(
    server: string,
    params: Record<string, unknown> | undefined,
    destination: LogDestination,
    shared: boolean,
  ): void {
    const level = params?.level;
    const severity = LOG_LEVELS.indexOf(level as LogLevel);
    if (severity === -1 || params?.data === undefined) {
      this.dropped('invalid', server);
      return;
    }
    if (severity < (this.levels.get(destination.sessionId) ?? 0)) return;
    const logger = typeof params.logger === 'string' ? `${server}/${params.logger}` : server;
    const notification = {
      method: 'notifications/message',
      params: { ...params, logger },
    } as ServerNotification;
    if (!shared) {
      this.deliver(destination, notification);
      return;
    }
    const revision = this.revision();
    const known = this.visibility.get(destination.sessionId);
    if (known?.kind === 'decided' && known.revision === revision) {
      if (known.servers.has(server)) this.deliver(destination, notification);
      else this.dropped('not_visible', server);
      return;
    }
    if (known?.kind === 'deciding' && known.revision === revision) {
      if (known.queue.length >= MAX_QUEUED_LOG_MESSAGES) this.dropped('queue_full', server);
      else {
        known.queue.push({ server, destination, notification });
        destination.hold?.(known.flushed);
      }
      return;
    }
    let flush = (): void => undefined;
    const deciding: Deciding = {
      kind: 'deciding',
      revision,
      queue: [{ server, destination, notification }],
      flushed: new Promise<void>((resolve) => (flush = resolve)),
    };
    this.visibility.set(destination.sessionId, deciding);
    destination.hold?.(deciding.flushed);
    void this.decide(destination)
      .catch((err: unknown) => {
        this.logger.error('log message decision failed; the messages are dropped', {
          session: destination.sessionId.slice(0, 8),
          error: err instanceof Error ? err.message : String(err),
        });
        return new Set<string>();
      })
      .then((servers) => {
        // The session ended (or a newer decision began) meanwhile: its messages go nowhere.
        if (this.visibility.get(destination.sessionId) === deciding) {
          this.visibility.set(destination.sessionId, { kind: 'decided', revision, servers });
          for (const queued of deciding.queue) {
            if (servers.has(queued.server)) this.deliver(queued.destination, queued.notification);
            else this.dropped('not_visible', queued.server);
          }
        }
        flush();
      });
  }

  /** Counts a notification that reaches no client, and says so in the log now and then. */
  dropped(reason: DropReason, server: string): void {
    this.counters.dropped[reason]++;
    const now = Date.now();
    if (reason === 'not_visible' || now - this.lastWarning < DROP_WARNING_EVERY_MS) return;
    this.lastWarning = now;
    this.logger.warn('upstream notifications dropped', {
      upstream: server,
      reason,
      dropped: { ...this.counters.dropped },
    });
  }

  /** The session ended here: its level and decision go. */
  forget(sessionId: string): void {
    this.levels.delete(sessionId);
    this.visibility.delete(sessionId);
  }

  private deliver(destination: LogDestination, notification: ServerNotification): void {
    this.counters.relayed++;
    void destination.send(notification).catch(() => undefined);
  }
}
