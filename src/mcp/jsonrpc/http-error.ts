// HTTP-level refusals on /mcp, always with a JSON-RPC error body a client can show. Written
// on Node's own response (Express's res.json is not needed, and /mcp bypasses Express).
// `code` is one of the named codes of codes.ts.
import type { ServerResponse } from 'node:http';

export function sendJsonRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  data?: unknown,
): void {
  if (res.headersSent) return;
  const error = data === undefined ? { code, message } : { code, message, data };
  const body = JSON.stringify({ jsonrpc: '2.0', error, id: null });
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
