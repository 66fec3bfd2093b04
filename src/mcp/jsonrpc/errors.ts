// A JSON-RPC error whose message reaches the client exactly as written. (The SDK's McpError
// prefixes "MCP error <code>:" to its message, which clients then show twice.)
import { McpgateError } from '../../util/errors.js';

// The codes the request path uses most, re-exported so callers need one import.
export { GATEWAY_REFUSED, INTERNAL_ERROR, INVALID_PARAMS, POLICY_DENIED } from './codes.js';

/**
 * `rpcCode` is the JSON-RPC code the client receives (see codes.ts); `code` is the stable
 * string code every mcpgate error has.
 */
export class RpcError extends McpgateError {
  static override readonly code = 'ERR_JSONRPC';

  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}
