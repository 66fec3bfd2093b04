// The HTTP application: /mcp behind its guards, on Node's own request and response, and
// Express for everything else (health, readiness, OAuth protected-resource metadata, the
// admin API). /mcp is nearly every request; Express's router and its request and response
// setup cost more per tools/call than the guards themselves, so /mcp goes around it.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express, type Router } from 'express';
import type { AuthenticatedRequest, NodeMiddleware } from './guards/bearer-auth.js';
import { bodyErrorHandler, jsonBody, originGuard } from './guards/body.js';
import { INTERNAL_ERROR } from '../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../mcp/jsonrpc/http-error.js';
import type { Logger } from '../util/logger.js';

export interface AppParts {
  maxBodyBytes: number;
  allowedOrigins: string[];
  auth: NodeMiddleware;
  mcp: (req: AuthenticatedRequest, res: ServerResponse) => Promise<void>;
  /** Operators' admin API (authenticated and policy-decided inside). */
  admin: Router;
  readiness: () => { ready: boolean; detail: Record<string, unknown> };
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
 * /mcp: Origin, then authentication, then the body (never parsed before authentication),
 * then the endpoint. An unexpected failure anywhere is a 500 JSON-RPC error, as Express
 * answered a thrown error with a 500.
 */
export function mcpRoute(parts: AppParts): RequestListener {
  const origin = originGuard(parts.allowedOrigins);
  const body = jsonBody(parts.maxBodyBytes);
  const bodyErrors = bodyErrorHandler(parts.maxBodyBytes);

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

  const parsed = (req: AuthenticatedRequest, res: ServerResponse, err?: unknown): void => {
    if (err !== undefined) {
      bodyErrors(err as { type?: string }, req, res, (other) => failed(res, other));
      return;
    }
    parts.mcp(req, res).catch((error: unknown) => failed(res, error));
  };

  const authenticated = (req: AuthenticatedRequest, res: ServerResponse, err?: unknown): void => {
    if (err !== undefined) return failed(res, err);
    try {
      body(req, res, (bodyErr) => parsed(req, res, bodyErr));
    } catch (error) {
      failed(res, error);
    }
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    try {
      origin(req, res, () => parts.auth(req, res, (err) => authenticated(req, res, err)));
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
