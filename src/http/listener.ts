// The HTTP application: /mcp behind its guards, on Node's own request and response, and
// Express for everything else (health, readiness, OAuth protected-resource metadata, the
// admin API). /mcp is nearly every request; Express's router and its request and response
// setup cost more per tools/call than the guards themselves, so /mcp goes around it.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express, type RequestHandler, type Router } from 'express';
import type { Caller } from '../identity/caller.js';
import { INTERNAL_ERROR } from '../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../mcp/jsonrpc/http-error.js';
import type { Arrival } from '../telemetry/tracing.js';
import type { Logger } from '../util/logger.js';
import type { Authenticate } from './guards/bearer-auth.js';
import { bodyErrorHandler, jsonBody } from './guards/body.js';
import { mediaTypeGuard } from './guards/media-type.js';
import { hostGuard, type HostAllowList } from './guards/host.js';
import { originGuard } from './guards/origin.js';
import { logRefusal } from './refusal-log.js';

/** Answers one authenticated /mcp request whose body has been read. */
export type McpEndpoint = (
  req: IncomingMessage,
  res: ServerResponse,
  caller: Caller,
  body: unknown,
  /** When it arrived and was authenticated: only when requests are traced. */
  arrival?: Arrival,
) => Promise<void>;

/** Refuses a request before it is decided when it could not be recorded; true to go on. */
export type AuditGuard = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface AppParts {
  maxBodyBytes: number;
  /** Deepest nesting of objects and arrays a /mcp body may have (gateway.max_json_depth). */
  maxJsonDepth: number;
  /** The names /mcp answers to (Host header): public URL, listen address, allowed_hosts. */
  allowedHosts: HostAllowList;
  allowedOrigins: string[];
  authenticate: Authenticate;
  /** Refuses POSTs while the decision log cannot keep up (audit back-pressure). */
  auditGuard: AuditGuard;
  mcp: McpEndpoint;
  /** Operators' admin API (authenticated and policy-decided inside). */
  admin: Router;
  readiness: () => { ready: boolean; detail: Record<string, unknown> };
  /** True when requests are traced: /mcp then notes when each arrived and was authenticated. */
  timeArrivals?: boolean;
  /** GET /metrics on this listener (telemetry.metrics without a listener of its own). */
  metrics?: RequestHandler;
  protectedResource: () => Record<string, unknown>;
  logger: Logger;
}

/**
 * True for the paths Express's `app.all('/mcp')` matched: case-insensitive, with or without
 * a trailing slash, any query string.
 */
export function isMcpPath(url: string | undefined): boolean {
  if (url === undefined) return false;
  const end = url.indexOf('?');
  const path = end === -1 ? url : url.slice(0, end);
  if (path.length !== 4 && path.length !== 5) return false;
  const lower = path.toLowerCase();
  return lower === '/mcp' || lower === '/mcp/';
}

/**
 * /mcp, its guards in order: Host, Origin, bearer authentication (the Caller), a POST's media
 * types, the body (never read before authentication), audit back-pressure, then the
 * endpoint with the Caller and the body. An unexpected failure anywhere is a 500 JSON-RPC
 * error.
 */
export function mcpRoute(parts: AppParts): RequestListener {
  const host = hostGuard(parts.allowedHosts);
  const origin = originGuard(parts.allowedOrigins);
  const bodyLimits = { maxBytes: parts.maxBodyBytes, maxDepth: parts.maxJsonDepth };
  const body = jsonBody(bodyLimits);
  const bodyErrors = bodyErrorHandler(bodyLimits);
  const timeArrivals = parts.timeArrivals === true;

  const failed = (res: ServerResponse, err: unknown): void => {
    parts.logger.error('MCP request failed', {
      error: err instanceof Error ? err.message : String(err),
    });
    sendJsonRpcError(
      res,
      500,
      INTERNAL_ERROR,
      'internal gateway error; the request was not processed',
    );
  };

  const read = (
    req: IncomingMessage & { body?: unknown },
    res: ServerResponse,
    caller: Caller,
    arrival: Arrival | undefined,
    err?: unknown,
  ): void => {
    if (err !== undefined) {
      const refusal = bodyErrors(err as { type?: string }, req, res, (other) => failed(res, other));
      if (refusal) logRefusal(parts.logger, req, refusal.status, refusal.reason, caller);
      return;
    }
    if (!parts.auditGuard(req, res)) return;
    parts.mcp(req, res, caller, req.body, arrival).catch((error: unknown) => failed(res, error));
  };

  const authenticated = (
    req: IncomingMessage,
    res: ServerResponse,
    at: number,
    caller?: Caller,
  ): void => {
    if (!caller) return; // refused and answered
    const arrival = timeArrivals ? { at, authenticated: performance.now() } : undefined;
    try {
      const refusal = mediaTypeGuard(req, res);
      if (refusal) {
        logRefusal(parts.logger, req, refusal.status, refusal.reason, caller);
        return;
      }
      body(req, res, (bodyErr) => read(req, res, caller, arrival, bodyErr));
    } catch (error) {
      failed(res, error);
    }
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    const at = timeArrivals ? performance.now() : 0;
    try {
      if (!host(req, res)) return;
      const refusal = origin(req, res);
      if (refusal) {
        logRefusal(parts.logger, req, refusal.status, refusal.reason);
        return;
      }
      parts.authenticate(req, res).then(
        (caller) => authenticated(req, res, at, caller),
        (error: unknown) => failed(res, error),
      );
    } catch (error) {
      failed(res, error);
    }
  };
}

/** Everything but /mcp. */
export function buildApp(parts: AppParts): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const { ready, detail } = parts.readiness();
    res.status(ready ? 200 : 503).json({ ready, ...detail });
  });
  // RFC 9728: the root form and the path-specific form for /mcp.
  for (const path of [
    '/.well-known/oauth-protected-resource',
    '/.well-known/oauth-protected-resource/mcp',
  ]) {
    app.get(path, (_req, res) => {
      res.json(parts.protectedResource());
    });
  }
  if (parts.metrics) app.get('/metrics', parts.metrics);
  app.use(parts.admin);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}

/** The server's request listener: /mcp first, on its own; the rest through Express. */
export function requestListener(parts: AppParts): RequestListener {
  const mcp = mcpRoute(parts);
  const app = buildApp(parts);
  return (req, res) => {
    if (isMcpPath(req.url)) mcp(req, res);
    else app(req, res);
  };
}
