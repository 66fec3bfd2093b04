// Authenticates every /mcp request with its bearer token (re-verified on every request; a
// session id is never a substitute). Answers follow RFC 6750 / RFC 9728 as the MCP
// authorization spec asks: 401 with a WWW-Authenticate challenge naming the protected
// resource metadata, 403 insufficient_scope naming the scopes to step up to. On success the
// normalized identity is attached for the MCP layer; the token itself is never forwarded
// upstream or logged (the credential broker may exchange it at the IdP for an upstream token).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Identity } from '../../identity/identity.js';
import { AuthError, type TokenVerifier } from '../../identity/verifier.js';
import type { LoadedSession } from '../../sessions/store.js';
import type { Logger } from '../../util/logger.js';
import type { RequestExtra } from '../../pipeline/methods.js';
import { GATEWAY_REFUSED } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';

/** What authentication attaches to a request. */
export interface Authenticated {
  auth?: AuthInfo;
  identity?: Identity;
}

/** A request on Node's own objects (/mcp does not go through Express), authenticated. */
export type AuthenticatedRequest = IncomingMessage & Authenticated & { body?: unknown };

/**
 * A middleware on Node's own request and response, so it serves /mcp without Express and
 * still mounts in an Express router (whose request and response extend Node's).
 */
export type NodeMiddleware = (
  req: AuthenticatedRequest,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/** True when the query string has an access_token parameter (RFC 6750 form). */
function hasQueryToken(url = ''): boolean {
  const at = url.indexOf('?');
  return at !== -1 && new URLSearchParams(url.slice(at + 1)).has('access_token');
}

export interface BearerAuthOptions {
  verifier: () => TokenVerifier | undefined;
  resourceMetadataUrl: () => string;
  requiredScopes: string[];
  logger: Logger;
}

/**
 * What authentication leaves on a request for the MCP layer (authInfo.extra). The caller's
 * token is kept for one purpose only, the credential broker may exchange it for an upstream
 * token: in a private field behind a getter, so no serialisation (logs, JSON) sees it.
 */
class VerifiedCaller implements RequestExtra {
  /** As the SDK's AuthInfo.extra, a record (nothing else is ever set on it). */
  [key: string]: unknown;
  session?: LoadedSession;
  readonly #token: string;

  constructor(
    readonly identity: Identity,
    readonly remoteAddress: string | undefined,
    token: string,
  ) {
    this.#token = token;
  }

  get subjectToken(): string {
    return this.#token;
  }
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

export function bearerAuth(options: BearerAuthOptions): NodeMiddleware {
  const { requiredScopes, logger } = options;
  const challenge = (error?: AuthError['error'], description?: string): Record<string, string> => {
    const parts = [`resource_metadata=${quote(options.resourceMetadataUrl())}`];
    if (requiredScopes.length > 0) parts.push(`scope=${quote(requiredScopes.join(' '))}`);
    if (error) parts.push(`error=${quote(error)}`);
    if (description) parts.push(`error_description=${quote(description)}`);
    return { 'WWW-Authenticate': `Bearer ${parts.join(', ')}` };
  };
  const refuse = (req: IncomingMessage, res: ServerResponse, err: AuthError): void => {
    logger.info('authentication refused', {
      reason: err.message,
      error: err.error,
      remote: req.socket.remoteAddress,
    });
    // Every authentication failure is 401 (the contract, and what MCP clients act on
    // to re-authenticate); RFC 6750 would allow 400 for invalid_request. Scope is 403.
    const status = err.error === 'insufficient_scope' ? 403 : 401;
    const prefix =
      status === 403
        ? 'forbidden'
        : err.error === 'invalid_request'
          ? 'bad request'
          : 'invalid token';
    sendJsonRpcError(
      res,
      status,
      GATEWAY_REFUSED,
      `${prefix}: ${err.message}`,
      challenge(err.error, err.message),
    );
  };

  return (req, res, next) => {
    const verifier = options.verifier();
    if (!verifier) {
      sendJsonRpcError(res, 503, GATEWAY_REFUSED, 'gateway is starting; retry shortly');
      return;
    }
    if (hasQueryToken(req.url)) {
      refuse(
        req,
        res,
        new AuthError(
          'access tokens are not accepted in the query string; send Authorization: Bearer',
          'invalid_request',
        ),
      );
      return;
    }
    const header = req.headers.authorization;
    if (header === undefined) {
      sendJsonRpcError(
        res,
        401,
        GATEWAY_REFUSED,
        'authentication required: send Authorization: Bearer <token>',
        challenge(),
      );
      return;
    }
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    if (!match?.[1]) {
      refuse(
        req,
        res,
        new AuthError('Authorization header must be "Bearer <token>"', 'invalid_request'),
      );
      return;
    }
    const token = match[1];
    verifier.verify(token).then(
      (identity) => {
        const missing =
          requiredScopes.length === 0
            ? requiredScopes
            : requiredScopes.filter((s) => !identity.scopes.includes(s));
        if (missing.length > 0) {
          refuse(
            req,
            res,
            new AuthError(`token lacks scope(s) ${missing.join(' ')}`, 'insufficient_scope'),
          );
          return;
        }
        req.identity = identity;
        req.auth = {
          token: '[verified; not forwarded]',
          clientId: identity.client_id,
          scopes: identity.scopes,
          extra: new VerifiedCaller(identity, req.socket.remoteAddress, token),
        };
        next();
      },
      (err: unknown) => {
        refuse(
          req,
          res,
          err instanceof AuthError ? err : new AuthError('token could not be verified'),
        );
      },
    );
  };
}
