// /mcp: the Streamable HTTP endpoint. POST without a session opens one (initialize only);
// every other request must name a live session owned by the caller's principal. Unknown
// sessions and sessions of another principal both answer 404, so existence never leaks.
import type { Response } from 'express';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { Session, sessionPrincipal } from '../sessions/session.js';
import { POLICY_DENIED } from '../util/rpc-error.js';
import type { Logger } from '../util/logger.js';
import { GATEWAY_VERSION } from '../util/version.js';
import type { AuthenticatedRequest } from './auth.js';
import { GATEWAY_REFUSED, JSONRPC_INVALID_REQUEST, sendJsonRpcError } from './jsonrpc-errors.js';
import { newSessionId, type SessionManager } from './session-manager.js';
import { createSessionServer, type SessionServerDeps } from './session-server.js';

export interface McpEndpointOptions {
  sessions: SessionManager;
  serverDeps: SessionServerDeps;
  historyLimit: number;
  defaultPurpose: string;
  logger: Logger;
}

const PURPOSE_HEADER = 'mcp-purpose';
const PURPOSE_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function mcpHandler(options: McpEndpointOptions) {
  const { sessions, logger } = options;

  const openSession = async (req: AuthenticatedRequest, res: Response): Promise<void> => {
    const identity = req.identity;
    if (!identity) throw new Error('unauthenticated request reached the MCP endpoint');
    if (!isInitializeRequest(req.body)) {
      sendJsonRpcError(
        res,
        400,
        JSONRPC_INVALID_REQUEST,
        'Bad Request: no Mcp-Session-Id header; send initialize first to open a session',
      );
      return;
    }
    const requested = req.headers[PURPOSE_HEADER];
    const purpose = typeof requested === 'string' ? requested : options.defaultPurpose;
    if (!PURPOSE_PATTERN.test(purpose)) {
      sendJsonRpcError(
        res,
        400,
        JSONRPC_INVALID_REQUEST,
        'Mcp-Purpose must be 1-64 characters of A-Z a-z 0-9 . _ -',
      );
      return;
    }
    // The policy decides whether this user may have a session of this purpose, and its TTL.
    const session = new Session(
      newSessionId(),
      sessionPrincipal(identity),
      purpose,
      options.historyLimit,
    );
    const init = req.body as { id?: string | number; params?: { protocolVersion?: unknown } };
    const { decision, decisionId } = options.serverDeps.pipeline.openSession({
      identity,
      session,
      protocolVersion:
        typeof init.params?.protocolVersion === 'string' ? init.params.protocolVersion : undefined,
      gateway: { id: options.serverDeps.gatewayId, version: GATEWAY_VERSION },
      requestId: init.id ?? 0,
      remoteAddress: req.socket.remoteAddress,
      terminateRequested: false,
    });
    if (!decision.allow) {
      sendJsonRpcError(
        res,
        403,
        POLICY_DENIED,
        `Denied by policy: cannot open a ${purpose} session: ${decision.reasons.join('; ')}`,
        {},
        { decision_id: decisionId, reasons: decision.reasons },
      );
      return;
    }
    if (!sessions.reserve()) {
      sendJsonRpcError(
        res,
        503,
        GATEWAY_REFUSED,
        'session limit reached; close an idle session or retry later',
        {
          'Retry-After': '5',
        },
      );
      return;
    }
    const server = createSessionServer(session, options.serverDeps);
    let added = false;
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => session.id,
      onsessioninitialized: () => {
        sessions.release();
        added = true;
        sessions.add({ session, server, transport, initialized: true });
      },
      onsessionclosed: (id) => {
        void sessions.end(id, 'closed by client (DELETE)');
      },
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } finally {
      if (!added) {
        sessions.release();
        await transport.close().catch(() => undefined);
        await server.close().catch(() => undefined);
      }
    }
  };

  return async (req: AuthenticatedRequest, res: Response): Promise<void> => {
    try {
      const header = req.headers['mcp-session-id'];
      const sessionId = Array.isArray(header) ? header[0] : header;
      if (sessionId === undefined) {
        if (req.method !== 'POST') {
          sendJsonRpcError(
            res,
            400,
            JSONRPC_INVALID_REQUEST,
            'Bad Request: Mcp-Session-Id header is required',
          );
          return;
        }
        await openSession(req, res);
        return;
      }
      const entry = sessions.get(sessionId);
      if (
        entry &&
        req.identity &&
        entry.session.principal === sessionPrincipal(req.identity) &&
        entry.session.expired()
      ) {
        void sessions.end(sessionId, 'session TTL reached');
        sendJsonRpcError(
          res,
          404,
          JSONRPC_INVALID_REQUEST,
          `Session expired (its ${entry.session.ttlSeconds ?? 0} s lifetime is over): re-authenticate and initialize a new session`,
        );
        return;
      }
      if (!entry || !req.identity || entry.session.principal !== sessionPrincipal(req.identity)) {
        sendJsonRpcError(
          res,
          404,
          JSONRPC_INVALID_REQUEST,
          'Session not found: it expired or was closed; initialize a new session',
        );
        return;
      }
      entry.session.touch();
      await entry.transport.handleRequest(req, res, req.body);
    } catch (err) {
      logger.error('MCP request failed', { error: (err as Error).message });
      sendJsonRpcError(res, 500, -32603, 'internal gateway error; the request was not processed');
    }
  };
}
