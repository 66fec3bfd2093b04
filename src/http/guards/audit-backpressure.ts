// Fail closed when the decision log cannot keep up: while a stdout or file destination has
// its max_buffer_bytes waiting to be written (its storage fails, or is slower than the
// decisions), requests that would be decided are refused before the policy sees them, as
// when the session store is unavailable. Nothing is decided that could not be recorded,
// and the gateway's memory stays bounded. The refusals are not decisions, so they are not
// in the decision log; /readyz shows the destination and its error.
import type { ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthenticatedRequest } from './bearer-auth.js';
import { GATEWAY_REFUSED } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import type { DecisionLog } from '../../audit/decision-log.js';

/** Seconds a refused client should wait: about what a stalled disk needs to catch up. */
const RETRY_AFTER_S = '2';

/** In front of /mcp: POSTs (every decision comes from one) get 503 and a JSON-RPC error. */
export function guardMcp(
  log: Pick<DecisionLog, 'refusal'>,
  next: (req: AuthenticatedRequest, res: ServerResponse) => Promise<void>,
): (req: AuthenticatedRequest, res: ServerResponse) => Promise<void> {
  return (req, res) => {
    if (req.method === 'POST') {
      const reason = log.refusal();
      if (reason !== undefined) {
        sendJsonRpcError(
          res,
          503,
          GATEWAY_REFUSED,
          `${reason}; the request was refused (fail closed)`,
          { 'Retry-After': RETRY_AFTER_S },
        );
        return Promise.resolve();
      }
    }
    return next(req, res);
  };
}

/** In front of the admin API: every request there is a policy decision. */
export function guardAdmin(log: Pick<DecisionLog, 'refusal'>): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    const reason = log.refusal();
    if (reason === undefined) {
      next();
      return;
    }
    res
      .status(503)
      .set('Retry-After', RETRY_AFTER_S)
      .json({
        error: 'decision_log_full',
        message: `${reason}; the request was refused (fail closed)`,
      });
  };
}
