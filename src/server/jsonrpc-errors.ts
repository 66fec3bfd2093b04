// HTTP-level refusals on /mcp, always with a JSON-RPC error body a client can show.
import type { Response } from 'express';

export function sendJsonRpcError(
  res: Response,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  data?: unknown,
): void {
  if (res.headersSent) return;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  const error = data === undefined ? { code, message } : { code, message, data };
  res.status(status).json({ jsonrpc: '2.0', error, id: null });
}

export const JSONRPC_PARSE_ERROR = -32700;
export const JSONRPC_INVALID_REQUEST = -32600;
/** Server-defined: the request was refused before reaching the MCP layer. */
export const GATEWAY_REFUSED = -32001;
