// Every JSON-RPC error code mcpgate sends, by name. No other module in src/ writes a code
// as a number (test/unit/errors.test.ts checks). docs/errors.md says, for each, what the
// client sees, why, and what to do.
//
// Three names share -32001 and two share -32000, on purpose: the values are what MCP
// clients already know from the SDK's own transport and client, so they stay as they are
// on the wire. The HTTP status (on /mcp) and the message tell the cases apart.

// --- JSON-RPC 2.0's own codes ---

/** The body is not JSON, or not a JSON-RPC message (HTTP 400 on /mcp). */
export const PARSE_ERROR = -32700;
/**
 * The message is JSON but not an acceptable request: a bad batch or initialize, and most
 * refusals at the edge of /mcp (a disallowed Origin, a body too large, no session header).
 */
export const INVALID_REQUEST = -32600;
/**
 * No such method; a tools/call with params.task for a tool that does not run as a task (the
 * spec's code for it); also the gateway's answer to any request an upstream server sends it.
 */
export const METHOD_NOT_FOUND = -32601;
/** The request's params do not fit the method (or a tool's result does not fit its schema). */
export const INVALID_PARAMS = -32602;
/** The request was accepted but could not be served; the message says why. */
export const INTERNAL_ERROR = -32603;

// --- Codes of the MCP SDK, kept as the SDK uses them ---

/**
 * -32000, the Streamable HTTP transport's refusals (as the SDK's transport sends them):
 * wrong HTTP method, Accept or Content-Type, a missing Mcp-Session-Id header, an
 * unsupported MCP-Protocol-Version, a second GET stream.
 */
export const TRANSPORT_REFUSED = -32000;
/** -32000 too (the SDK's ConnectionClosed): the session closed before the request was answered. */
export const CONNECTION_CLOSED = -32000;
/**
 * -32001, the transport's "Session not found" (HTTP 404), as the SDK's transport sends it,
 * for a session this process has closed or a header naming another session.
 */
export const SESSION_NOT_FOUND = -32001;
/** -32001 too (the SDK's RequestTimeout): an upstream did not answer within its timeout. */
export const REQUEST_TIMEOUT = -32001;

// --- mcpgate's own codes (JSON-RPC's server-defined range) ---

/**
 * -32001 as well: the gateway refused the request before the MCP layer saw it (no or a bad
 * token, the gateway starting, a full session limit of the process or of the user, an
 * unavailable session store or a decision log that cannot keep up). Always with an HTTP
 * 401, 403, 429 or 503.
 */
export const GATEWAY_REFUSED = -32001;
/** The policy denied the request; `data` carries decision_id and, for session/open, reasons. */
export const POLICY_DENIED = -32010;
/**
 * -32042, MCP's URLElicitationRequired: a tools/call that needs a person's approval first,
 * for a client that declared URL elicitation; `data.elicitations` holds the approval page.
 */
export const URL_ELICITATION_REQUIRED = -32042;

// --- MCP 2026-07-28's own codes (docs/mcp-compatibility.md#the-two-eras) ---

/**
 * A 2026-07-28 request whose MCP-Protocol-Version, Mcp-Method or Mcp-Name header does not
 * say what its body says (HTTP 400).
 */
export const HEADER_MISMATCH = -32020;
/**
 * A 2026-07-28 request (or server/discover) naming a protocol version the gateway does not
 * speak (HTTP 400); `data` is `{supported, requested}`.
 */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
