// The two eras of MCP one endpoint serves: the handshake era (initialize, Mcp-Session-Id;
// revisions up to 2025-11-25) and the stateless era (2026-07-28: every request carries its
// protocol version, client info and capabilities in params._meta, and its method and name
// in headers). This module tells them apart and checks a stateless request's envelope
// against its headers, before any session is looked up. The version tables are built once,
// at start-up. docs/mcp-compatibility.md#the-two-eras
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import {
  HEADER_MISMATCH,
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
  UNSUPPORTED_PROTOCOL_VERSION,
} from '../jsonrpc/codes.js';

export type Era = 'handshake' | 'stateless';

/** The revisions of the stateless era the gateway speaks (newest last). */
export const STATELESS_VERSIONS: readonly string[] = Object.freeze(['2026-07-28']);
/** The revisions reached by the initialize handshake (the SDK's list, newest first). */
export const HANDSHAKE_VERSIONS: readonly string[] = Object.freeze([
  ...SUPPORTED_PROTOCOL_VERSIONS,
]);
/** What server/discover lists: every revision of both eras. */
export const ALL_VERSIONS: readonly string[] = Object.freeze([
  ...STATELESS_VERSIONS,
  ...HANDSHAKE_VERSIONS,
]);
const stateless = new Set(STATELESS_VERSIONS);

export const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_INFO_META = 'io.modelcontextprotocol/clientInfo';
export const CLIENT_CAPABILITIES_META = 'io.modelcontextprotocol/clientCapabilities';
export const SERVER_INFO_META = 'io.modelcontextprotocol/serverInfo';

/** The era of a protocol version: stateless for the 2026-07-28 family, else handshake. */
export function eraOf(version: string | undefined): Era {
  return version !== undefined && stateless.has(version) ? 'stateless' : 'handshake';
}

/** What a stateless request says about its client, checked against its headers. */
export interface StatelessEnvelope {
  protocolVersion: string;
  clientInfo: { name: string; version: string } | null;
  clientCapabilities: Record<string, unknown>;
}

/** A request refused before anything else runs: the HTTP status and the JSON-RPC error. */
export interface EnvelopeRefusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

type Headers = Record<string, string | string[] | undefined>;
type Fields = Record<string, unknown>;

/** The methods whose name (tool, prompt) or URI must also be in the Mcp-Name header. */
export const NAMED_PARAM: ReadonlyMap<string, string> = new Map([
  ['tools/call', 'name'],
  ['prompts/get', 'name'],
  ['resources/read', 'uri'],
]);

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function metaOf(body: unknown): Fields | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const params = (body as Fields).params;
  if (typeof params !== 'object' || params === null) return undefined;
  const meta = (params as Fields)._meta;
  return typeof meta === 'object' && meta !== null && !Array.isArray(meta)
    ? (meta as Fields)
    : undefined;
}

/**
 * True when a POST without Mcp-Session-Id is of the stateless era: it is server/discover,
 * names a stateless version in MCP-Protocol-Version, or carries the protocol version in
 * `_meta`. Everything else is the handshake era (initialize, or a request that forgot it).
 */
export function isStatelessRequest(body: unknown, headers: Headers): boolean {
  const version = header(headers, 'mcp-protocol-version');
  if (version !== undefined && stateless.has(version)) return true;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  if ((body as Fields).method === 'server/discover') return true;
  return metaOf(body)?.[PROTOCOL_VERSION_META] !== undefined;
}

/**
 * The Mcp-Name header's value: as sent, or decoded from its `=?base64?…?=` form (used for
 * names that are not plain printable ASCII). Undefined when the Base64 form is malformed.
 */
export function decodeNameHeader(value: string): string | undefined {
  const match = /^=\?base64\?(.*)\?=$/.exec(value);
  if (!match) return value;
  const payload = match[1]!;
  const bytes = Buffer.from(payload, 'base64');
  // Only the canonical encoding: anything else could smuggle a second spelling of a name.
  if (bytes.toString('base64') !== payload) return undefined;
  const text = new TextDecoder('utf-8', { fatal: true });
  try {
    return text.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A name as the Mcp-Name header carries it: as it is when it is printable ASCII without
 * surrounding spaces, else in the `=?base64?…?=` form (as decodeNameHeader reads it).
 */
export function encodeNameHeader(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name) && name === name.trim() && !/^=\?base64\?.*\?=$/.test(name)) {
    return name;
  }
  return `=?base64?${Buffer.from(name, 'utf8').toString('base64')}?=`;
}

function refusal(status: number, code: number, message: string, data?: unknown): EnvelopeRefusal {
  return data === undefined ? { status, code, message } : { status, code, message, data };
}

/** The refusal of a version the gateway does not speak in the stateless era. */
export function unsupportedVersion(requested: unknown): EnvelopeRefusal {
  return refusal(
    400,
    UNSUPPORTED_PROTOCOL_VERSION,
    `Unsupported protocol version ${JSON.stringify(requested)}: this gateway speaks ${STATELESS_VERSIONS.join(', ')} without a handshake, and ${HANDSHAKE_VERSIONS.join(', ')} after initialize`,
    { supported: [...ALL_VERSIONS], requested: typeof requested === 'string' ? requested : '' },
  );
}

/**
 * Checks one stateless request: a single JSON-RPC request (a notification is the caller's
 * business), its `_meta` envelope, its headers against its body (HeaderMismatch), and its
 * version (UnsupportedProtocolVersion). The headers are checked before the version, so a
 * client that contradicts itself is told so.
 */
export function checkEnvelope(
  body: unknown,
  headers: Headers,
): { envelope: StatelessEnvelope } | { refused: EnvelopeRefusal } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return {
      refused: refusal(
        400,
        INVALID_REQUEST,
        'Invalid Request: a 2026-07-28 POST carries one JSON-RPC request or notification, not a batch',
      ),
    };
  }
  const method = (body as Fields).method;
  if (typeof method !== 'string') {
    return { refused: refusal(400, PARSE_ERROR, 'Parse error: Invalid JSON-RPC message') };
  }
  const meta = metaOf(body);
  const missing = [PROTOCOL_VERSION_META, CLIENT_CAPABILITIES_META].filter(
    (key) => meta?.[key] === undefined,
  );
  if (missing.length > 0) {
    return {
      refused: refusal(
        400,
        INVALID_PARAMS,
        `params._meta lacks ${missing.join(' and ')}: a 2026-07-28 request carries its protocol version and client capabilities in _meta (or send initialize first for 2025-11-25)`,
      ),
    };
  }
  const version = meta![PROTOCOL_VERSION_META];
  if (header(headers, 'mcp-protocol-version') !== version) {
    return {
      refused: refusal(
        400,
        HEADER_MISMATCH,
        `the MCP-Protocol-Version header must equal params._meta["${PROTOCOL_VERSION_META}"] (${JSON.stringify(version)})`,
      ),
    };
  }
  if (header(headers, 'mcp-method') !== method) {
    return {
      refused: refusal(
        400,
        HEADER_MISMATCH,
        `the Mcp-Method header must equal the request's method (${method})`,
      ),
    };
  }
  const nameParam = NAMED_PARAM.get(method);
  if (nameParam !== undefined) {
    const named = ((body as Fields).params as Fields)[nameParam];
    const sent = header(headers, 'mcp-name');
    if (named !== undefined && (sent === undefined || decodeNameHeader(sent) !== named)) {
      return {
        refused: refusal(
          400,
          HEADER_MISMATCH,
          `the Mcp-Name header must equal the request's ${nameParam} (${JSON.stringify(named)})`,
        ),
      };
    }
  }
  if (typeof version !== 'string' || !stateless.has(version)) {
    return { refused: unsupportedVersion(version) };
  }
  const info = meta![CLIENT_INFO_META] as { name?: unknown; version?: unknown } | undefined;
  const capabilities = meta![CLIENT_CAPABILITIES_META];
  return {
    envelope: {
      protocolVersion: version,
      clientInfo:
        typeof info?.name === 'string' && typeof info.version === 'string'
          ? { name: info.name, version: info.version }
          : null,
      clientCapabilities:
        typeof capabilities === 'object' && capabilities !== null
          ? (capabilities as Record<string, unknown>)
          : {},
    },
  };
}

/**
 * The HTTP status of a JSON-RPC error answering a stateless request: the envelope and shape
 * errors are 400, an unknown method 404 (as the 2026-07-28 transport says); everything else
 * (a policy denial, an upstream's error) is an answer like any other, 200.
 */
export function statelessErrorStatus(code: number): number {
  switch (code) {
    case METHOD_NOT_FOUND:
      return 404;
    case PARSE_ERROR:
    case INVALID_REQUEST:
    case INVALID_PARAMS:
    case HEADER_MISMATCH:
    case UNSUPPORTED_PROTOCOL_VERSION:
      return 400;
    default:
      return 200;
  }
}
