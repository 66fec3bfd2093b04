// What upstreams send of their own accord, routed to the one session it is for: requests
// (sampling/createMessage, elicitation/create, roots/list), each run through its chain
// (chains.ts: decided by the policy with the upstream as the requester), and notifications
// (log messages through the log relay; a URL elicitation's completion to the session that
// was asked). Nothing crosses sessions:
//
// - a per-session connection works for its own session only: a message goes with the
//   session's request it belongs to, else on the session's own stream;
// - on a shared connection a message belongs to the client request the upstream is
//   serving: over HTTP the one on whose response stream it came; over stdio, where nothing
//   on the wire says so, the session with requests in flight on that connection when it is
//   only one. With no such request, or requests of several sessions in flight, the gateway
//   cannot tell: a request is refused with an error to the upstream, a notification dropped.
import type { ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from '../identity/caller.js';
import type { MessageSource, ServerRequest } from '../mcp/client/rpc-client.js';
import { INVALID_REQUEST, METHOD_NOT_FOUND } from '../mcp/jsonrpc/codes.js';
import { RpcError } from '../mcp/jsonrpc/errors.js';
import type { PolicyHolder } from '../policy/holder.js';
import type { UpstreamAskAction } from '../policy/input.js';
import type { LoadedSession } from '../sessions/store.js';
import type { UpstreamConnection, UpstreamPeer } from '../upstreams/connection.js';
import type { Logger } from '../util/logger.js';
import { RequestContext, type Exchange } from './context.js';
import {
  LOG_LEVELS,
  LogRelay,
  UpstreamNotificationCounters,
  type LogDestination,
  type LogLevel,
} from './log-relay.js';
import type { UrlElicitations } from './url-elicitations.js';

/** A session this process holds: who used it last, and its own stream. */
export interface SessionChannel {
  /** The caller of the session's latest request here (the policy's identity). */
  caller: Caller;
  /** The session as its latest request here loaded it. */
  session: LoadedSession;
  /** The session's own stream (GET /mcp): requests and notifications related to no call. */
  exchange: Exchange;
}

/** The sessions this process holds (the HTTP layer's live sessions). */
export interface SessionChannels {
  channel(sessionId: string): SessionChannel | undefined;
}

/** Runs a context through its chain (Pipeline.run). */
export type RunChain = (ctx: RequestContext) => Promise<unknown>;

const ASK_ACTIONS: Readonly<Record<string, UpstreamAskAction>> = {
  'sampling/createMessage': 'sampling/createMessage',
  'elicitation/create': 'elicitation/create',
  'roots/list': 'roots/list',
};

/** The session a message is for, and how to reach its client. */
interface Route {
  caller: Caller;
  session: LoadedSession;
  protocolVersion: string | undefined;
  exchange: Exchange;
  /** The client request the message belongs to, when there is one. */
  related: RequestContext | undefined;
}

type Routing = { route: Route } | { refused: string };

const PER_SESSION_HINT =
  'set isolation: per-session for an upstream that asks its clients for sampling, elicitation or roots';

export class UpstreamMessages implements UpstreamPeer {
  readonly counters = new UpstreamNotificationCounters();
  private readonly logs: LogRelay;

  constructor(
    private readonly run: RunChain,
    private readonly channels: SessionChannels,
    /** The URL elicitations sessions were asked (the chains' ask stage remembers them). */
    private readonly elicitations: UrlElicitations,
    policy: PolicyHolder,
    private readonly logger: Logger,
  ) {
    this.logs = new LogRelay(
      (destination) => this.decideLogSources(destination),
      () => policy.current()?.revision,
      this.counters,
      logger,
    );
  }

  /** logging/setLevel of a session (see LogRelay). */
  setLogLevel(sessionId: string, level: LogLevel): void {
    this.logs.setLevel(sessionId, level);
  }

  /** A session ended in this process: what is kept for it goes. */
  sessionEnded(sessionId: string): void {
    this.logs.forget(sessionId);
    this.elicitations.forgetSession(sessionId);
  }

  /** UpstreamPeer: a request of an upstream, decided and answered by its chain. */
  async request(
    connection: UpstreamConnection,
    request: ServerRequest,
  ): Promise<Record<string, unknown>> {
    const action = ASK_ACTIONS[request.method];
    if (!action) throw new RpcError(METHOD_NOT_FOUND, 'Method not found');
    const routing = this.route(connection, request);
    if ('refused' in routing) {
      const reason = `${request.method} refused: ${routing.refused}`;
      this.logger.warn('upstream request refused', { upstream: connection.name, reason });
      throw new RpcError(INVALID_REQUEST, reason);
    }
    const { route } = routing;
    const ctx = new RequestContext(
      action,
      request.id,
      route.caller,
      route.session,
      route.protocolVersion,
      {},
      route.exchange,
      Date.now(),
    );
    const config = connection.config;
    ctx.ask = {
      server: connection.name,
      isolation: config.isolation,
      transport: config.transport,
      roots: config.roots,
      params: request.params ?? {},
      cancellation: request.cancellation,
      related: route.related,
    };
    return (await this.run(ctx)) as Record<string, unknown>;
  }

  /** UpstreamPeer: a notification of an upstream's own. */
  notification(
    connection: UpstreamConnection,
    method: string,
    params: Record<string, unknown> | undefined,
    source: MessageSource,
  ): void {
    switch (method) {
      case 'notifications/message': {
        const routing = this.route(connection, source);
        if ('refused' in routing) {
          this.logs.dropped('unattributed', connection.name);
          return;
        }
        const { route } = routing;
        const related = route.related;
        const destination: LogDestination = {
          sessionId: route.session.record.id,
          send: (notification) => route.exchange.sendNotification(notification),
        };
        if (related) {
          destination.hold = (delivered) => {
            related.heldNotifications = Promise.all([related.heldNotifications, delivered]);
          };
        }
        this.logs.relay(connection.name, params, destination, connection.sessionId === undefined);
        return;
      }
      case 'notifications/elicitation/complete':
        this.elicitationComplete(connection, params);
        return;
    }
    // Other notifications of upstreams are not relayed (docs/mcp-compatibility.md).
  }

  /** A URL elicitation finished: only the session that was asked hears of it. */
  private elicitationComplete(
    connection: UpstreamConnection,
    params: Record<string, unknown> | undefined,
  ): void {
    const id = params?.elicitationId;
    const sessionId =
      typeof id === 'string' ? this.elicitations.take(connection.name, id) : undefined;
    const channel = sessionId === undefined ? undefined : this.channels.channel(sessionId);
    if (!channel) {
      this.logs.dropped('unattributed', connection.name);
      return;
    }
    const notification = {
      method: 'notifications/elicitation/complete',
      params: { elicitationId: id },
    } as ServerNotification;
    void channel.exchange.sendNotification(notification).catch(() => undefined);
  }

  /**
   * Which servers' log messages this session receives over shared connections: one visible
   * decision (notifications/message), logged like any other.
   */
  private async decideLogSources(destination: LogDestination): Promise<ReadonlySet<string>> {
    const channel = this.channels.channel(destination.sessionId);
    if (!channel) return new Set();
    const ctx = new RequestContext(
      'notifications/message',
      undefined,
      channel.caller,
      channel.session,
      channel.session.record.protocolVersion || undefined,
      {},
      undefined,
      Date.now(),
    );
    await this.run(ctx);
    return ctx.denied ? new Set() : (ctx.visible?.ids ?? new Set());
  }

  /** The session a message from this connection is for (see the top of this file). */
  private route(connection: UpstreamConnection, source: MessageSource): Routing {
    const owner = connection.sessionId;
    const candidates = [source.related, ...[...source.inFlight].reverse()].filter(
      (o): o is RequestContext => o instanceof RequestContext,
    );
    if (owner !== undefined) {
      const mine = candidates.find((ctx) => ctx.session.record.id === owner);
      if (mine) return { route: routeOf(mine) };
      const channel = this.channels.channel(owner);
      if (!channel) {
        return {
          refused: `session ${owner.slice(0, 8)}, whose connection this is, has ended or is not held by this process`,
        };
      }
      return {
        route: {
          caller: channel.caller,
          session: channel.session,
          protocolVersion: channel.session.record.protocolVersion || undefined,
          exchange: channel.exchange,
          related: undefined,
        },
      };
    }
    if (source.related instanceof RequestContext) return { route: routeOf(source.related) };
    if (source.relatable) {
      return {
        refused: `upstream ${connection.name} sent it on its shared connection outside any request's stream, so no session can be told it is for; ${PER_SESSION_HINT}`,
      };
    }
    const sessions = new Set(candidates.map((ctx) => ctx.session.record.id));
    if (sessions.size === 1) return { route: routeOf(candidates[0]!) };
    return {
      refused:
        sessions.size === 0
          ? `no request is in flight on the shared connection of upstream ${connection.name}, so no session can be told it is for; ${PER_SESSION_HINT}`
          : `requests of ${sessions.size} sessions are in flight on the shared connection of upstream ${connection.name} (stdio), so the gateway cannot tell which one it is for; ${PER_SESSION_HINT}`,
    };
  }
}

function routeOf(ctx: RequestContext): Route {
  if (!ctx.exchange) throw new Error('a forwarded request without its exchange');
  return {
    caller: ctx.caller,
    session: ctx.session,
    protocolVersion: ctx.protocolVersion,
    exchange: ctx.exchange,
    related: ctx,
  };
}

/** logging/setLevel's level, when it is one (the dispatcher checked the params' shape). */
export function logLevelOf(value: unknown): LogLevel | undefined {
  return LOG_LEVELS.includes(value as LogLevel) ? (value as LogLevel) : undefined;
}
