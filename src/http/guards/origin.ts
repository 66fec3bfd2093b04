// Guard in front of /mcp: the Origin allow-list, the DNS-rebinding defence the MCP spec asks
// for. Browsers always send Origin; non-browser clients usually do not and are not affected.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { INVALID_REQUEST } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import type { Refusal } from '../refusal-log.js';

/** Undefined to go on; the refusal (answered) otherwise. */
export function originGuard(
  allowedOrigins: string[],
): (req: IncomingMessage, res: ServerResponse) => Refusal | undefined {
  const allowed = new Set(allowedOrigins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(origin)) {
      const reason = `Origin ${origin} is not allowed`;
      sendJsonRpcError(res, 403, INVALID_REQUEST, reason);
      return { status: 403, reason };
    }
    return undefined;
  };
}
