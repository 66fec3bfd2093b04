// Guard in front of /mcp: the Origin allow-list, the DNS-rebinding defence the MCP spec asks
// for. Browsers always send Origin; non-browser clients usually do not and are not affected.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { INVALID_REQUEST } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';

/** True to go on; false when the request was refused (and answered). */
export function originGuard(
  allowedOrigins: string[],
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const allowed = new Set(allowedOrigins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(origin)) {
      sendJsonRpcError(res, 403, INVALID_REQUEST, `Origin ${origin} is not allowed`);
      return false;
    }
    return true;
  };
}
