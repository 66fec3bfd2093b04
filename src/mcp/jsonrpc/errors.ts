// A JSON-RPC error whose message reaches the client exactly as written. (The SDK's McpError
// prefixes "MCP error <code>:" to its message, which clients then show twice.)
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** The policy denied the request (server-defined range). */
export const POLICY_DENIED = -32010;
export const INVALID_REQUEST = -32600;
