// The Express application: health, readiness, OAuth protected-resource metadata, and
// /mcp behind its guards.
import express, { type Express, type RequestHandler, type Router } from 'express';
import { bodyErrorHandler, jsonBody, originGuard } from './guards.js';

export interface AppParts {
  maxBodyBytes: number;
  allowedOrigins: string[];
  auth: RequestHandler;
  mcp: RequestHandler;
  /** Operators' admin API (authenticated and policy-decided inside). */
  admin: Router;
  readiness: () => { ready: boolean; detail: Record<string, unknown> };
  protectedResource: () => Record<string, unknown>;
}

export function buildApp(parts: AppParts): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  // First: the router tries routes in order for every request, and /mcp is nearly all of
  // them. No other route matches /mcp, so the order changes nothing else.
  app.all(
    '/mcp',
    originGuard(parts.allowedOrigins),
    parts.auth,
    jsonBody(parts.maxBodyBytes),
    bodyErrorHandler(parts.maxBodyBytes),
    parts.mcp,
  );
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
