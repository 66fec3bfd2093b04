// The base of every error mcpgate defines. Each concrete class declares a stable string
// code (`ERR_...`), readable on the class (`ConfigError.code`) and on every instance
// (`err.code`), so callers branch on the code instead of matching message text, which may
// change. docs/errors.md lists every code: what the user sees, why, and what to do; the
// unit test test/unit/errors.test.ts keeps the two in step.
//
// A JSON-RPC error's numeric code is not this code: RpcError and UpstreamRpcError carry it
// as `rpcCode` (see src/mcp/jsonrpc/codes.ts).

export abstract class McpgateError extends Error {
  /** The class's stable code; every concrete subclass declares its own. */
  declare static readonly code: string;

  /** The stable code of this error's class (`ERR_...`). */
  readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    // new.target is the class actually constructed, so a subclass needs no constructor of
    // its own to get its name and code onto the instance.
    this.name = new.target.name;
    this.code = new.target.code;
  }
}
