// Guard in front of /mcp: the JSON body, read with a size limit, and body errors as
// JSON-RPC errors. On Node's own request and response: /mcp does not go through Express
// (see listener.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { INVALID_REQUEST, PARSE_ERROR } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import { leanJsonBody, type NodeMiddleware } from './json-body.js';

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
