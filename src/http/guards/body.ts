// Request guards in front of /mcp: Origin allow-list (DNS-rebinding defence), JSON body
// parsing with a size limit, and translation of body errors into JSON-RPC errors. All on
// Node's own request and response: /mcp does not go through Express (see app.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import type { NodeMiddleware } from './bearer-auth.js';
import { INVALID_REQUEST, PARSE_ERROR } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import { leanJsonBody } from './json-body.js';

/** Browsers always send Origin; non-browser clients usually do not and are not affected. */
export function originGuard(allowedOrigins: string[]): NodeMiddleware {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(origin)) {
      sendJsonRpcError(res, 403, INVALID_REQUEST, `Origin ${origin} is not allowed`);
      return;
    }
    next();
  };
}

export function jsonBody(maxBytes: number): NodeMiddleware {
  // body-parser stays for what the plain reader leaves to it (compressed bodies, charsets).
  const fallback = express.json({
    limit: maxBytes,
    type: ['application/json', 'application/*+json'],
  }) as unknown as NodeMiddleware;
  return leanJsonBody(maxBytes, fallback);
}

interface BodyParserError {
  type?: string;
  status?: number;
}

/** Body errors as JSON-RPC errors; anything else goes on to `next`. */
export function bodyErrorHandler(
  maxBytes: number,
): (
  err: BodyParserError,
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void {
  return (err, _req, res, next) => {
    if (err.type === 'entity.too.large') {
      sendJsonRpcError(res, 413, INVALID_REQUEST, `request body exceeds ${maxBytes} bytes`);
      return;
    }
    if (err.type === 'entity.parse.failed') {
      sendJsonRpcError(res, 400, PARSE_ERROR, 'Parse error: request body is not valid JSON');
      return;
    }
    if (err.type === 'encoding.unsupported' || err.type === 'charset.unsupported') {
      sendJsonRpcError(res, 415, INVALID_REQUEST, 'unsupported request body encoding');
      return;
    }
    next(err);
  };
}
