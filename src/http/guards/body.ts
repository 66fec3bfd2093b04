// Guard in front of /mcp: the JSON body, read with a size limit and checked for depth, and
// body errors as JSON-RPC errors. On Node's own request and response: /mcp does not go
// through Express (see listener.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { INVALID_REQUEST, PARSE_ERROR } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import { describeIllFormedString, jsonValueProblem } from '../../util/json-walk.js';
import type { Refusal } from '../refusal-log.js';
import { leanJsonBody, RequestBodyError, type NodeMiddleware } from './json-body.js';

export interface BodyLimits {
  maxBytes: number;
  /** Deepest nesting of objects and arrays accepted (gateway.max_json_depth). */
  maxDepth: number;
}

/**
 * Reads the body, then walks it once, without recursion (util/json-walk.ts), before anything
 * else does: its depth, because the request path has recursive walkers (schemas, canonical
 * JSON, the policy input) that must never meet a depth an attacker chose; and its keys and
 * strings, which must be well-formed Unicode: a lone surrogate ("\ud800" in the JSON text)
 * could not be decided (OPA's wasm evaluator refuses such an input), and one recorded in a
 * session would fail all its later decisions. Both are refused here, before any session is
 * opened, loaded or changed.
 */
export function jsonBody(limits: BodyLimits): NodeMiddleware {
  // body-parser stays for what the plain reader leaves to it (compressed bodies, charsets).
  const fallback = express.json({
    limit: limits.maxBytes,
    type: ['application/json', 'application/*+json'],
  }) as unknown as NodeMiddleware;
  const read = leanJsonBody(limits.maxBytes, fallback);
  return (req, res, next) => {
    read(req, res, (err) => {
      const problem = err === undefined ? jsonValueProblem(req.body, limits.maxDepth) : undefined;
      if (problem === 'too deep') {
        next(
          new RequestBodyError(
            'entity.too.deep',
            400,
            `request body nests deeper than ${limits.maxDepth} levels`,
          ),
        );
        return;
      }
      if (problem === 'ill-formed string') {
        next(
          new RequestBodyError(
            'entity.ill.formed',
            400,
            `${describeIllFormedString(req.body) ?? 'a string'} is not well-formed Unicode: it holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair); send text as UTF-8, or escape a surrogate pair whole`,
          ),
        );
        return;
      }
      next(err);
    });
  };
}

interface BodyParserError {
  type?: string;
  status?: number;
  message?: string;
}

/**
 * Body errors as JSON-RPC errors; anything else goes on to `next` (and undefined is
 * returned). An aborted or timed-out body is not answered: the client is gone.
 */
export function bodyErrorHandler(
  limits: BodyLimits,
): (
  err: BodyParserError,
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => Refusal | undefined {
  const refuse = (res: ServerResponse, status: number, code: number, message: string): Refusal => {
    sendJsonRpcError(res, status, code, message);
    return { status, reason: message };
  };
  return (err, _req, res, next) => {
    switch (err.type) {
      case 'entity.too.large':
        return refuse(res, 413, INVALID_REQUEST, `request body exceeds ${limits.maxBytes} bytes`);
      case 'entity.too.deep':
        return refuse(
          res,
          400,
          INVALID_REQUEST,
          `Invalid Request: the body nests objects and arrays deeper than ${limits.maxDepth} levels (gateway.max_json_depth)`,
        );
      case 'entity.ill.formed':
        return refuse(res, 400, INVALID_REQUEST, `Invalid Request: ${err.message ?? ''}`);
      case 'entity.parse.failed':
        return refuse(res, 400, PARSE_ERROR, 'Parse error: request body is not valid JSON');
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return refuse(res, 415, INVALID_REQUEST, 'unsupported request body encoding');
      case 'request.aborted':
        // The client closed the connection, or the server's request timeout did (it has
        // answered 408 itself): the socket is gone.
        res.destroy();
        return {
          status: undefined,
          reason: 'the connection closed before the request body was complete',
        };
      default:
        next(err);
        return undefined;
    }
  };
}
