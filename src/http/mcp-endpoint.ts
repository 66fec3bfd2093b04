// /mcp: the Streamable HTTP endpoint. POST without a session opens one (initialize only,
// decided by the policy as session/open). Every other request names a session: it is read
// from the store (one round trip), must belong to the caller's principal, and is served by
// this process's live transport for it when this process opened it. Unknown, expired, terminated and foreign sessions all answer
// 404, so a session's existence never leaks. A session opened by another replica is served
// here request by request (see serveVisitor).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { SessionsConfig } from '../config/sessions.js';
import type { Caller } from '../identity/caller.js';
import {
  GATEWAY_REFUSED,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  PARSE_ERROR,
  POLICY_DENIED,
} from '../mcp/jsonrpc/codes.js';
import { messageKind } from '../mcp/jsonrpc/shape.js';
import { sendJsonRpcError } from '../mcp/jsonrpc/http-error.js';
import { HeldCalls } from '../mcp/server/held-calls.js';
import { serveRelayedRetry, type HeldCallDesk } from '../mcp/server/dispatcher.js';
import { RequestStates } from '../mcp/server/request-state.js';
import { checkEnvelope, isStatelessRequest, type StatelessEnvelope } from '../mcp/server/eras.js';
import type { ClientRequests } from '../mcp/server/client-requests.js';
import {
  NodeStreamableHttpTransport,
  tooManyInFlight,
  type TransportCounters,
} from '../mcp/server/http-transport.js';
import type { Pipeline, SessionOpening } from '../pipeline/chains.js';
import { elicitationModes } from '../pipeline/stages/approval.js';
import { RequestContext } from '../pipeline/context.js';
import {
  createSessionServer,
  describeSessionServer,
  type SessionRequest,
  type SetLogLevel,
} from '../pipeline/methods.js';
import { rateRules } from '../sessions/rate-rules.js';
import { sessionPrincipal } from '../sessions/session.js';
import {
  StoreUnavailableError,
  type LoadedSession,
  type SessionEnd,
  type SessionRecord,
  type SessionStore,
} from '../sessions/store.js';
import { carrierOf, type Arrival, type TraceCarrier } from '../telemetry/tracing.js';
import type { Logger } from '../util/logger.js';
import type { McpEndpoint } from './listener.js';
import { logRefusal } from './refusal-log.js';
import { newSessionId, type LiveSession, type SessionManager } from './live-sessions.js';
import { RUN_SESSION_PREFIX, runOf, type RunKeys } from './run-sessions.js';

export interface McpEndpointOptions {
  sessions: SessionManager;
  /** Counts what the session transports refuse and drop (shown in /readyz). */
  counters: TransportCounters;
  store: SessionStore;
  pipeline: Pipeline;
  config: SessionsConfig;
  logger: Logger;
  /** The process's requests to clients awaiting their answers (asked for upstreams). */
  clientRequests: ClientRequests;
  /** Where logging/setLevel puts a session's level. */
  setLogLevel?: SetLogLevel;
  /** Derives the sessions of 2026-07-28 requests (run-sessions.ts). */
  runKeys: RunKeys;
  /**
   * This process among the replicas: sealed in the states of the calls it holds, so that a
   * retry at another replica is relayed here (the gateway id and a per-process nonce).
   */
  replica: string;
  /** How long a retry relayed to the replica holding its call waits for the answer, ms. */
  relayTimeoutMs: number;
}

const PURPOSE_HEADER = 'mcp-purpose';
/** What a purpose may be, wherever it comes from (header, _meta, token claim, /doctor). */
export const PURPOSE_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

interface InitializeParams {
  protocolVersion?: unknown;
  clientInfo?: { name?: unknown; version?: unknown };
  capabilities?: unknown;
  _meta?: Record<string, unknown>;
}

/** Where a client (or its IdP) names the session's purpose, most specific first. */
export const PURPOSE_META_KEY = 'mcpgate/purpose';
export const PURPOSE_CLAIM = 'mcp_purpose';

/**
 * The purpose the client asks for: the Mcp-Purpose header, else the initialize request's
 * _meta["mcpgate/purpose"], else the token's mcp_purpose claim (an IdP can pin it), else
 * the configured default. Asking is all it is: the policy decides at session/open.
 */
function requestedPurpose(
  req: IncomingMessage,
  body: unknown,
  caller: Caller,
  fallback: string,
): string {
  const header = req.headers[PURPOSE_HEADER];
  if (typeof header === 'string') return header;
  const meta = (body as { params?: InitializeParams } | undefined)?.params?._meta?.[
    PURPOSE_META_KEY
  ];
  if (typeof meta === 'string') return meta;
  const claim = caller.identity.claims[PURPOSE_CLAIM];
  if (typeof claim === 'string') return claim;
  return fallback;
}

const PURPOSE_REFUSAL = 'Mcp-Purpose must be 1-64 characters of A-Z a-z 0-9 . _ -';

const SESSION_NOT_FOUND_MESSAGE =
  'Session not found: it expired, was terminated or closed; re-authenticate and initialize a new session';

export function mcpHandler(options: McpEndpointOptions): McpEndpoint {
  const { sessions, store, logger, config, pipeline, counters, clientRequests, runKeys } = options;
  const maxInFlight = config.maxRequestsInFlight;
  const description = describeSessionServer(pipeline, options.setLogLevel, (id, stream) =>
    sessions.listen(id, stream),
  );
  /** A session's server, able to ask its client things for upstreams. */
  const sessionServer = (sessionId: string) =>
    createSessionServer(description, { sessionId, clientRequests });
  /**
   * 2026-07-28 calls that wait for their client's answers (held-calls.ts), and the states
   * that name them, sealed with a key derived from the run key. Retries that other replicas
   * relay here (the state names this one) resume them too.
   */
  const held: HeldCallDesk = {
    calls: new HeldCalls(),
    states: new RequestStates(runKeys.derive('mcpgate held call'), 'mcpgate1h.'),
    replica: options.replica,
    relay: store.relay,
    relayTimeoutMs: options.relayTimeoutMs,
  };
  store.relay?.serve(options.replica, (retry) => serveRelayedRetry(held, retry));
  /** Only answers to what the gateway asked this session's client are taken. */
  const awaitsAnswer = (sessionId: string) => (id: string | number) =>
    clientRequests.awaits(sessionId, id);

  /** Refuses before anything is decided: the answer, and a 'request refused' log line. */
  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    status: number,
    code: number,
    message: string,
    headers: Record<string, string> = {},
  ): void => {
    logRefusal(logger, req, status, message, caller);
    sendJsonRpcError(res, status, code, message, headers);
  };
  const notFound = (req: IncomingMessage, res: ServerResponse, caller: Caller): void =>
    refuse(req, res, caller, 404, INVALID_REQUEST, SESSION_NOT_FOUND_MESSAGE);
  const storeDown = (req: IncomingMessage, res: ServerResponse, caller: Caller, err: Error) =>
    refuse(
      req,
      res,
      caller,
      503,
      GATEWAY_REFUSED,
      `${err.message}; the request was denied (fail closed)`,
      {
        'Retry-After': '2',
      },
    );

  /** A client's DELETE: its session (when there is one) ends everywhere; 200, or 503. */
  const closeByClient = async (
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    sessionId: string | undefined,
  ): Promise<void> => {
    try {
      if (sessionId !== undefined) await sessions.terminate(sessionId, 'closed by client (DELETE)');
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        storeDown(req, res, caller, err);
        return;
      }
      throw err;
    }
    res.writeHead(200).end();
  };

  /** One store round trip: the session as `principal` uses it (a load is a use). */
  const loadSession = (id: string, principal: string): Promise<LoadedSession | undefined> =>
    store.load(id, config.historyLimit, rateRules(config.rateLimits, { id, principal }), {
      principal,
      idleMs: config.idleTimeoutMs,
    });

  /**
   * The session a request names, timed for its trace; with `withEnd`, also the end noted
   * for it when there is none (a 2026-07-28 run's). Undefined once refused (store down).
   */
  const loadForRequest = async (
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    id: string,
    principal: string,
    arrival: Arrival | undefined,
    withEnd: boolean,
  ): Promise<{ loaded: LoadedSession | undefined; ended: SessionEnd | undefined } | undefined> => {
    if (arrival !== undefined) arrival.loadStart = performance.now();
    try {
      const loaded = await loadSession(id, principal);
      const ended = !loaded && withEnd ? await store.endOf(id) : undefined;
      if (arrival !== undefined) arrival.loadEnd = performance.now();
      return { loaded, ended };
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        storeDown(req, res, caller, err);
        return undefined;
      }
      throw err;
    }
  };

  /** The session/open request of a session not yet stored: empty, as the policy sees it. */
  const openingContext = (
    caller: Caller,
    requestId: string | number,
    record: SessionRecord,
    traceCarrier: TraceCarrier | undefined,
    arrival: Arrival | undefined,
  ): RequestContext =>
    new RequestContext(
      'session/open',
      requestId,
      caller,
      { record, history: [], counters: { calls: 0, denied: 0 }, rates: {} },
      record.protocolVersion || undefined,
      {},
      undefined,
      record.createdAt,
      traceCarrier,
      arrival,
    );

  /**
   * A server/discover of an open session is answered with the instructions the session is
   * shown, as its initialize (or first 2026-07-28 request) was; any other request needs none.
   */
  const discoverInstructions = async (
    caller: Caller,
    session: LoadedSession,
    body: unknown,
    req: IncomingMessage,
  ): Promise<string | undefined> => {
    if (messageKind(body) !== 'request') return undefined;
    const { id, method, params } = body as {
      id: string | number;
      method: unknown;
      params?: { _meta?: Record<string, unknown> };
    };
    if (method !== 'server/discover') return undefined;
    return pipeline.instructionsOf(
      caller,
      session,
      id,
      carrierOf(params?._meta) ?? carrierOf(req.headers),
    );
  };

  /**
   * Runs session/open for a session about to be created; answers the refusal itself (store
   * down, the user's session cap, the policy's deny) and returns undefined then.
   */
  const decideOpening = async (
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    ctx: RequestContext,
  ): Promise<SessionOpening | undefined> => {
    const opened = await pipeline.openSession(ctx);
    if (opened.unavailable) {
      storeDown(req, res, caller, opened.unavailable);
      return undefined;
    }
    const { decision, decisionId } = opened;
    const data = { decision_id: decisionId, reasons: decision.reasons };
    if (opened.principalFull) {
      // Not the policy's refusal, the user's own count: 429, as for any limit on a client.
      sendJsonRpcError(res, 429, GATEWAY_REFUSED, decision.reasons.join('; '), {}, data);
      return undefined;
    }
    if (!decision.allow) {
      sendJsonRpcError(
        res,
        403,
        POLICY_DENIED,
        `Denied by policy: cannot open a session of purpose ${ctx.session.record.purpose}: ${decision.reasons.join('; ')}`,
        {},
        data,
      );
      return undefined;
    }
    return opened;
  };

  const openSession = async (
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    body: unknown,
    arrival: Arrival | undefined,
  ): Promise<void> => {
    const identity = caller.identity;
    if (isInitializeRequest(body) && messageKind(body) !== 'request') {
      // Not a JSON-RPC request (the SDK's check reads only method and params): the transport
      // would refuse it after the policy had opened a session whose id nobody receives.
      refuse(req, res, caller, 400, PARSE_ERROR, 'Parse error: Invalid JSON-RPC message');
      return;
    }
    if (!isInitializeRequest(body)) {
      refuse(
        req,
        res,
        caller,
        400,
        INVALID_REQUEST,
        'Bad Request: no Mcp-Session-Id header; send initialize first to open a session',
      );
      return;
    }
    const purpose = requestedPurpose(req, body, caller, config.defaultPurpose);
    if (!PURPOSE_PATTERN.test(purpose)) {
      refuse(req, res, caller, 400, INVALID_REQUEST, PURPOSE_REFUSAL);
      return;
    }
    if (!sessions.reserve()) {
      refuse(
        req,
        res,
        caller,
        503,
        GATEWAY_REFUSED,
        'session limit reached; close an idle session or retry later',
        { 'Retry-After': '5' },
      );
      return;
    }
    let live: LiveSession | undefined;
    try {
      const init = body as { id?: string | number; params?: InitializeParams };
      const params = init.params ?? {};
      const clientInfo = params.clientInfo;
      const record: SessionRecord = {
        id: newSessionId(),
        principal: sessionPrincipal(identity),
        subject: identity.subject,
        purpose,
        createdAt: Date.now(),
        expiresAt: null,
        protocolVersion: typeof params.protocolVersion === 'string' ? params.protocolVersion : '',
        clientInfo:
          typeof clientInfo?.name === 'string' && typeof clientInfo.version === 'string'
            ? { name: clientInfo.name, version: clientInfo.version }
            : null,
        clientCapabilities:
          typeof params.capabilities === 'object' && params.capabilities !== null
            ? (params.capabilities as Record<string, unknown>)
            : {},
      };
      // The policy decides whether this user may have a session of this purpose, and its TTL.
      const ctx = openingContext(
        caller,
        init.id ?? 0,
        record,
        carrierOf(params._meta) ?? carrierOf(req.headers),
        arrival,
      );
      const session = ctx.session;
      const opened = await decideOpening(req, res, caller, ctx);
      if (!opened) return;
      const server = sessionServer(record.id);
      const transport = new NodeStreamableHttpTransport<SessionRequest>({
        sessionId: record.id,
        maxInFlight,
        counters,
        awaitsAnswer: awaitsAnswer(record.id),
      });
      const session8 = record.id.slice(0, 8);
      transport.onrefused = (status, reason) =>
        logger.info('request refused', { status, reason, session: session8 });
      live = {
        id: record.id,
        principal: record.principal,
        server,
        transport,
        openedAt: record.createdAt,
        lastSeenAt: Date.now(),
        urlElicitation: elicitationModes(record.clientCapabilities).url,
        caller,
        session,
      };
      await server.connect(transport);
      await transport.handleRequest(req, res, body, {
        caller,
        session,
        instructions: opened.instructions,
      });
      sessions.add(live);
      live = undefined;
    } finally {
      sessions.release();
      if (live) {
        await live.transport.close().catch(() => undefined);
        await live.server.close().catch(() => undefined);
      }
    }
  };

  /**
   * A request of a session another replica opened: served by a Server and a transport made
   * for this one request (a transport without session state serves one request), after
   * the gateway itself has checked the session's existence, owner and lifetime.
   */
  const serveVisitor = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    request: SessionRequest,
    stateless = false,
  ): Promise<void> => {
    const sessionId = request.session.record.id;
    sessions.visit(sessionId);
    if (req.method === 'POST' && !sessions.beginVisit(sessionId, maxInFlight)) {
      counters.refusedInFlight++;
      const reason = tooManyInFlight(sessions.visitingNow(sessionId), maxInFlight);
      logger.info('request refused', { status: 429, reason, session: sessionId.slice(0, 8) });
      sendJsonRpcError(res, 429, INVALID_REQUEST, reason);
      return;
    }
    const server = stateless
      ? createSessionServer(description, { sessionId, clientRequests, stateless, held })
      : sessionServer(sessionId);
    const transport = new NodeStreamableHttpTransport<SessionRequest>({
      sessionId: undefined,
      counters,
      awaitsAnswer: awaitsAnswer(sessionId),
      stateless,
    });
    transport.onrefused = (status, reason) =>
      logger.info('request refused', { status, reason, session: sessionId.slice(0, 8) });
    // Closing the connection ends this request's work (its transport and server close).
    res.on('close', () => {
      if (req.method === 'POST') sessions.endVisit(sessionId);
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body, request);
  };

  /** The session a 2026-07-28 request belongs to: its id, or undefined once refused. */
  const statelessSessionId = (
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    body: unknown,
  ): { id: string; purpose: string } | undefined => {
    if (!runKeys.usable) {
      refuse(
        req,
        res,
        caller,
        503,
        GATEWAY_REFUSED,
        'MCP 2026-07-28 requests need sessions.run_key when sessions are shared by replicas (a Redis store): ask the operator to set it, or use initialize (2025-11-25)',
      );
      return undefined;
    }
    const purpose = requestedPurpose(req, body, caller, config.defaultPurpose);
    if (!PURPOSE_PATTERN.test(purpose)) {
      refuse(req, res, caller, 400, INVALID_REQUEST, PURPOSE_REFUSAL);
      return undefined;
    }
    const run = runOf(req, body, caller);
    if ('refused' in run) {
      refuse(req, res, caller, 400, INVALID_REQUEST, run.refused);
      return undefined;
    }
    return { id: runKeys.sessionId(caller, purpose, run.run), purpose };
  };

  /**
   * A request of the stateless era: its envelope checked, its session derived and loaded,
   * or opened (decided as session/open) when the run has none; a run whose session was
   * terminated or outlived its TTL stays ended (docs/sessions-2026.md).
   */
  const serveStateless = async (
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    body: unknown,
    arrival: Arrival | undefined,
  ): Promise<void> => {
    const kind = messageKind(body);
    if (req.method === 'POST' && kind === 'notification') {
      // The 2026-07-28 core has no client notifications over HTTP; accepted, nothing to do.
      res.writeHead(202).end();
      return;
    }
    if (req.method === 'POST' && kind !== 'request') {
      refuse(
        req,
        res,
        caller,
        400,
        INVALID_REQUEST,
        'Invalid Request: a 2026-07-28 POST carries one JSON-RPC request; the gateway sends no requests to answer',
      );
      return;
    }
    let envelope: StatelessEnvelope | undefined;
    if (req.method === 'POST') {
      const checked = checkEnvelope(body, req.headers);
      if ('refused' in checked) {
        const { status, code, message, data } = checked.refused;
        logRefusal(logger, req, status, message, caller);
        sendJsonRpcError(res, status, code, message, {}, data);
        return;
      }
      envelope = checked.envelope;
    }
    const derived = statelessSessionId(req, res, caller, body);
    if (!derived) return;
    const { id, purpose } = derived;
    const principal = sessionPrincipal(caller.identity);
    const found = await loadForRequest(req, res, caller, id, principal, arrival, true);
    if (!found) return;
    let { loaded } = found;
    const { ended } = found;
    if (loaded && loaded.record.principal !== principal) {
      notFound(req, res, caller);
      return;
    }
    if (!loaded && ended && ended.at <= Date.now()) {
      refuse(
        req,
        res,
        caller,
        404,
        INVALID_REQUEST,
        `Session ended: ${ended.reason} at ${new Date(ended.at).toISOString()}; this agent run is over: start a new run (a new Mcp-Run header value) to open a new session`,
      );
      return;
    }
    if (req.method === 'DELETE') {
      await closeByClient(req, res, caller, loaded ? id : undefined);
      return;
    }
    if (!envelope) {
      res.setHeader('allow', 'POST, DELETE');
      refuse(
        req,
        res,
        caller,
        405,
        INVALID_REQUEST,
        'Method Not Allowed: MCP 2026-07-28 has no GET stream; use subscriptions/listen',
      );
      return;
    }
    let instructions: string | undefined;
    if (!loaded) {
      const { protocolVersion, clientInfo, clientCapabilities } = envelope;
      const record: SessionRecord = {
        id,
        principal,
        subject: caller.identity.subject,
        purpose,
        createdAt: Date.now(),
        expiresAt: null,
        protocolVersion,
        clientInfo,
        clientCapabilities,
      };
      const ctx = openingContext(
        caller,
        (body as { id: string | number }).id,
        record,
        carrierOf((body as { params?: InitializeParams }).params?._meta) ?? carrierOf(req.headers),
        arrival,
      );
      const opened = await decideOpening(req, res, caller, ctx);
      if (!opened) return;
      if (record.expiresAt !== null) {
        // The run ends with its TTL, also if a later request finds the session gone.
        const end = { at: record.expiresAt, reason: 'its lifetime (TTL) ran out' };
        try {
          await store.noteEnd(id, end, record.expiresAt + config.idleTimeoutMs);
        } catch (err) {
          if (!(err instanceof StoreUnavailableError)) throw err;
          await store.terminate(id, 'its end could not be noted').catch(() => undefined);
          storeDown(req, res, caller, err);
          return;
        }
      }
      loaded = ctx.session;
      instructions = opened.instructions;
    } else instructions = await discoverInstructions(caller, loaded, body, req);
    const request: SessionRequest = { caller, session: loaded, instructions, arrival };
    await serveVisitor(req, res, body, request, true);
  };

  return async (req, res, caller, body, arrival): Promise<void> => {
    try {
      const header = req.headers['mcp-session-id'];
      const sessionId = Array.isArray(header) ? header[0] : header;
      if (sessionId === undefined && isStatelessRequest(body, req.headers)) {
        await serveStateless(req, res, caller, body, arrival);
        return;
      }
      if (sessionId?.startsWith(RUN_SESSION_PREFIX)) {
        // A 2026-07-28 session is never named by a client: not a handle to present.
        notFound(req, res, caller);
        return;
      }
      if (sessionId === undefined) {
        if (req.method !== 'POST') {
          refuse(
            req,
            res,
            caller,
            400,
            INVALID_REQUEST,
            'Bad Request: Mcp-Session-Id header is required',
          );
          return;
        }
        await openSession(req, res, caller, body, arrival);
        return;
      }
      const identity = caller.identity;
      const principal = sessionPrincipal(identity);
      const found = await loadForRequest(req, res, caller, sessionId, principal, arrival, false);
      if (!found) return;
      const { loaded } = found;
      if (!loaded || loaded.record.principal !== principal) {
        notFound(req, res, caller);
        return;
      }
      if (req.method === 'DELETE') {
        await closeByClient(req, res, caller, sessionId);
        return;
      }
      const instructions = await discoverInstructions(caller, loaded, body, req);
      const request: SessionRequest = { caller, session: loaded, arrival, instructions };
      const live = sessions.get(sessionId);
      if (live) {
        // What an upstream asks for this session later is asked as this caller.
        live.caller = caller;
        live.session = loaded;
        await live.transport.handleRequest(req, res, body, request);
      } else await serveVisitor(req, res, body, request);
    } catch (err) {
      logger.error('MCP request failed', { error: (err as Error).message });
      sendJsonRpcError(
        res,
        500,
        INTERNAL_ERROR,
        'internal gateway error; the request was not processed',
      );
    }
  };
}
