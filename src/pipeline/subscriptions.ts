// The resource subscriptions of the sessions this process holds (resources/subscribe), per
// upstream connection and URI. Upstream, one subscription per connection and URI: on a
// shared connection the first session's subscribe is sent and the last one's unsubscribe;
// a per-session connection has only its own session. A reconnected connection is a new
// upstream session, so its URIs are subscribed again.
//
// An upstream's notifications/resources/updated reaches only the sessions subscribed to
// that URI on that connection, and each only after a decision that the session may still
// read the resource (`deliver`: the notifications/resources/updated chain). Deliveries do
// not pile up: while one is being decided and sent for a session and URI, further updates
// of it are folded into one more delivery after it.
import type { Caller } from '../identity/caller.js';
import type { LoadedSession } from '../sessions/store.js';
import {
  UpstreamUnavailableError,
  type CallOptions,
  type UpstreamConnection,
} from '../upstreams/connection.js';
import type { Logger } from '../util/logger.js';

/** The most resource subscriptions one session may hold (in this process). */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 100;

/** What a delivery is decided on: the subscribing request's caller and session. */
export interface DeliveryFacts {
  readonly caller: Caller;
  readonly session: LoadedSession;
  readonly protocolVersion: string | undefined;
}

/** One session subscribed to one upstream URI. */
export interface Subscriber {
  readonly sessionId: string;
  /** From the session's latest resources/subscribe of this URI. */
  facts: DeliveryFacts;
  /** A delivery is being decided or sent. */
  delivering: boolean;
  /** An update arrived meanwhile: deliver once more afterwards. */
  again: boolean;
}

/** Decides and, when allowed, sends one update to one subscriber. */
export type DeliverUpdate = (server: string, uri: string, subscriber: Subscriber) => Promise<void>;

/** One upstream URI subscribed on one connection. */
interface Watched {
  readonly subscribers: Map<string, Subscriber>;
  /** The upstream resources/subscribe: under way, done, or failed. */
  readonly upstream: Promise<unknown>;
}

/** Where a session's subscription lives. */
interface Held {
  readonly connection: UpstreamConnection;
  readonly uri: string;
}

const key = (server: string, uri: string): string => `${server}\u0000${uri}`;

export class ResourceSubscriptions {
  private readonly byConnection = new Map<UpstreamConnection, Map<string, Watched>>();
  /** Each session's subscriptions, by server and URI. */
  private readonly bySession = new Map<string, Map<string, Held>>();
  private readonly detach = new Map<UpstreamConnection, () => void>();

  constructor(
    private readonly deliver: DeliverUpdate,
    private readonly logger: Logger,
  ) {}

  /** How many subscriptions a session holds here. */
  count(sessionId: string): number {
    return this.bySession.get(sessionId)?.size ?? 0;
  }

  has(sessionId: string, server: string, uri: string): boolean {
    return this.bySession.get(sessionId)?.has(key(server, uri)) === true;
  }

  /**
   * Subscribes a session to an upstream URI on `connection`. Subscribing again only renews
   * the facts its deliveries are decided on. Rejects (and holds nothing) when the upstream
   * refuses the subscription.
   */
  async subscribe(
    connection: UpstreamConnection,
    uri: string,
    facts: DeliveryFacts,
    options: CallOptions,
  ): Promise<void> {
    const sessionId = facts.session.record.id;
    const held = key(connection.name, uri);
    let mine = this.bySession.get(sessionId);
    const existing = mine?.get(held);
    if (existing) {
      const subscriber = this.byConnection.get(existing.connection)?.get(uri);
      const current = subscriber?.subscribers.get(sessionId);
      if (current) current.facts = facts;
      return;
    }
    let uris = this.byConnection.get(connection);
    if (!uris) {
      uris = new Map();
      this.byConnection.set(connection, uris);
      this.listen(connection);
    }
    let watched = uris.get(uri);
    if (!watched) {
      watched = {
        subscribers: new Map(),
        upstream: connection.subscription('resources/subscribe', uri, options),
      };
      uris.set(uri, watched);
    }
    // Held before the upstream answers, so a concurrent last unsubscribe cannot drop it.
    watched.subscribers.set(sessionId, { sessionId, facts, delivering: false, again: false });
    if (!mine) this.bySession.set(sessionId, (mine = new Map<string, Held>()));
    mine.set(held, { connection, uri });
    try {
      await watched.upstream;
    } catch (err) {
      await this.drop(sessionId, held, false);
      throw err;
    }
  }

  /** Ends a session's subscription (nothing to do when it holds none). */
  async unsubscribe(
    sessionId: string,
    server: string,
    uri: string,
    options: CallOptions,
  ): Promise<void> {
    await this.drop(sessionId, key(server, uri), true, options);
  }

  /** Ends every subscription of a session (it ended here). */
  async releaseSession(sessionId: string): Promise<void> {
    const mine = this.bySession.get(sessionId);
    if (!mine) return;
    await Promise.all([...mine.keys()].map((held) => this.drop(sessionId, held, true, {})));
  }

  /**
   * Removes one subscription of a session; the connection's URI is unsubscribed upstream
   * when nobody is left on it (`tellUpstream`). An upstream that cannot be told is left to
   * forget it at its next reconnect: nothing is delivered here any more either way.
   */
  private async drop(
    sessionId: string,
    held: string,
    tellUpstream: boolean,
    options: CallOptions = {},
  ): Promise<void> {
    const mine = this.bySession.get(sessionId);
    const where = mine?.get(held);
    if (!mine || !where) return;
    mine.delete(held);
    if (mine.size === 0) this.bySession.delete(sessionId);
    const { connection, uri } = where;
    const uris = this.byConnection.get(connection);
    const watched = uris?.get(uri);
    if (!uris || !watched) return;
    watched.subscribers.delete(sessionId);
    if (watched.subscribers.size > 0) return;
    uris.delete(uri);
    if (uris.size === 0) {
      this.byConnection.delete(connection);
      this.detach.get(connection)?.();
      this.detach.delete(connection);
    }
    if (!tellUpstream || connection.state === 'closed') return;
    try {
      await connection.subscription('resources/unsubscribe', uri, options);
    } catch (err) {
      this.logger.debug('upstream unsubscribe failed; the subscription is dropped here', {
        upstream: connection.name,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  private listen(connection: UpstreamConnection): void {
    const updated = (uri: string): void => this.updated(connection, uri);
    // A reconnect is a new upstream session: what was subscribed must be subscribed again.
    const ready = (): void => this.resubscribe(connection);
    connection.on('resourceUpdated', updated);
    connection.on('ready', ready);
    this.detach.set(connection, () => {
      connection.off('resourceUpdated', updated);
      connection.off('ready', ready);
    });
  }

  private resubscribe(connection: UpstreamConnection): void {
    for (const uri of this.byConnection.get(connection)?.keys() ?? []) {
      connection.subscription('resources/subscribe', uri, {}).catch((err: unknown) => {
        if (err instanceof UpstreamUnavailableError) return; // down again: its next ready retries
        this.logger.warn('upstream refused a subscription again after reconnecting', {
          upstream: connection.name,
          error: err instanceof Error ? err.message : String(err),
        });
      });
    }
  }

  private updated(connection: UpstreamConnection, uri: string): void {
    const watched = this.byConnection.get(connection)?.get(uri);
    if (!watched) return; // nobody here subscribed to it (any more)
    for (const subscriber of watched.subscribers.values()) {
      this.deliverTo(connection.name, uri, subscriber);
    }
  }

  private deliverTo(server: string, uri: string, subscriber: Subscriber): void {
    if (subscriber.delivering) {
      subscriber.again = true;
      return;
    }
    subscriber.delivering = true;
    void (async () => {
      try {
        do {
          subscriber.again = false;
          await this.deliver(server, uri, subscriber);
        } while (subscriber.again && this.has(subscriber.sessionId, server, uri));
      } catch (err) {
        this.logger.error('resource update could not be delivered', {
          upstream: server,
          session: subscriber.sessionId.slice(0, 8),
          error: err instanceof Error ? err.message : String(err),
        });
      } finally {
        subscriber.delivering = false;
      }
    })();
  }
}
