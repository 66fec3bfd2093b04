// Fail closed when the decision log cannot take a line: while a stdout or file destination
// has its max_buffer_bytes waiting to be written (its storage fails, or is slower than the
// decisions), cannot be written at all and accepts only written lines, or is closed
// (shutdown), requests that would be decided are refused before the policy sees them, as
// when the session store is unavailable. Nothing is decided that could not be recorded,
// and the gateway's memory stays bounded. The refusals are not decisions, so they are not
// in the decision log; /readyz shows the destination and its error.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GATEWAY_REFUSED } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import type { DecisionLog } from '../../audit/decision-log.js';

/** Seconds a refused client should wait: about what a stalled disk needs to catch up. */
const RETRY_AFTER_S = '2';

/**
 * In front of /mcp: POSTs (every decision comes from one) get 503 and a JSON-RPC error.
 * True to go on; false when the request was refused (and answered).
 */
export function auditBackpressure(
  log: Pick<DecisionLog, 'refusal'>,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST') return true;
    const reason = log.refusal();
    if (reason === undefined) return true;
    sendJsonRpcError(
      res,
      503,
      GATEWAY_REFUSED,
      `${reason}; the request was refused (fail closed)`,
      {
        'Retry-After': RETRY_AFTER_S,
      },
    );
    return false;
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
        error: 'decision_log_unavailable',
        message: `${reason}; the request was refused (fail closed)`,
      });
  };
}
