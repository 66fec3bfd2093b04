// Authenticates every /mcp request with its bearer token (re-verified on every request; a
// session id is never a substitute). Answers follow RFC 6750 / RFC 9728 as the MCP
// authorization spec asks: 401 with a WWW-Authenticate challenge naming the protected
// resource metadata, 403 insufficient_scope naming the scopes to step up to. On success it
// returns the Caller (identity and token), which the edge hands to the MCP layer; the token
// itself is never forwarded upstream or logged (the credential broker may exchange it).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Caller } from '../../identity/caller.js';
import { AuthError, type TokenVerifier } from '../../identity/verifier.js';
import type { Logger } from '../../util/logger.js';
import { GATEWAY_REFUSED, INVALID_REQUEST } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';

/** Authenticates one request: the Caller, or undefined when the refusal has been answered. */
export type Authenticate = (
  req: IncomingMessage,
  res: ServerResponse,
) => Promise<Caller | undefined>;

/**
 * How many Authorization headers the request carried. Node keeps only the first in
 * `req.headers` and drops the others silently, so a second one (a valid token, then junk;
 * or the other way round) would pass unseen: count them on the raw headers.
 */
function authorizationHeaderCount(raw: string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') count++;
  }
  return count;
}

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

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

export function bearerAuth(options: BearerAuthOptions): Authenticate {
  const { requiredScopes, logger } = options;
  const challenge = (error?: AuthError['error'], description?: string): Record<string, string> => {
    const parts = [`resource_metadata=${quote(options.resourceMetadataUrl())}`];
    if (requiredScopes.length > 0) parts.push(`scope=${quote(requiredScopes.join(' '))}`);
    if (error) parts.push(`error=${quote(error)}`);
    if (description) parts.push(`error_description=${quote(description)}`);
    return { 'WWW-Authenticate': `Bearer ${parts.join(', ')}` };
  };
  /**
   * Every authentication failure is 401 (what MCP clients act on to re-authenticate; RFC
   * 6750 would allow 400 for invalid_request), a missing scope 403. `ambiguous` is the one
   * exception: more than one credential is 400, since no token could make the request
   * acceptable and the gateway will not guess which credential was meant.
   */
  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    err: AuthError,
    ambiguous = false,
  ): undefined => {
    logger.info('authentication refused', {
      reason: err.message,
      error: err.error,
      remote: req.socket.remoteAddress,
    });
    const status = ambiguous ? 400 : err.error === 'insufficient_scope' ? 403 : 401;
    const prefix =
      status === 403
        ? 'forbidden'
        : err.error === 'invalid_request'
          ? 'bad request'
          : 'invalid token';
    sendJsonRpcError(
      res,
      status,
      ambiguous ? INVALID_REQUEST : GATEWAY_REFUSED,
      `${prefix}: ${err.message}`,
      challenge(err.error, err.message),
    );
    return undefined;
  };

  return async (req, res) => {
    const verifier = options.verifier();
    if (!verifier) {
      sendJsonRpcError(res, 503, GATEWAY_REFUSED, 'gateway is starting; retry shortly');
      return undefined;
    }
    if (hasQueryToken(req.url)) {
      return refuse(
        req,
        res,
        new AuthError(
          'access tokens are not accepted in the query string; send Authorization: Bearer',
          'invalid_request',
        ),
      );
    }
    const headers = authorizationHeaderCount(req.rawHeaders);
    if (headers > 1) {
      return refuse(
        req,
        res,
        new AuthError(
          `${headers} Authorization headers were sent; send exactly one, with one Bearer token`,
          'invalid_request',
        ),
        true,
      );
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
      return undefined;
    }
    // A token68 (RFC 9110 section 11.2) has no comma: one means several credentials.
    if (header.includes(',')) {
      return refuse(
        req,
        res,
        new AuthError(
          'the Authorization header holds more than one credential; send exactly one Bearer token',
          'invalid_request',
        ),
        true,
      );
    }
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    if (!match?.[1]) {
      return refuse(
        req,
        res,
        new AuthError('Authorization header must be "Bearer <token>"', 'invalid_request'),
      );
    }
    const token = match[1];
    let identity;
    try {
      identity = await verifier.verify(token);
    } catch (err) {
      return refuse(
        req,
        res,
        err instanceof AuthError ? err : new AuthError('token could not be verified'),
      );
    }
    const missing =
      requiredScopes.length === 0
        ? requiredScopes
        : requiredScopes.filter((s) => !identity.scopes.includes(s));
    if (missing.length > 0) {
      return refuse(
        req,
        res,
        new AuthError(`token lacks scope(s) ${missing.join(' ')}`, 'insufficient_scope'),
      );
    }
    return new Caller(identity, req.socket.remoteAddress, token);
  };
}

/** The Caller an Express route was authenticated as (see expressAuth). */
export function callerOf(res: Response): Caller {
  const caller = (res.locals as { caller?: unknown }).caller;
  if (!(caller instanceof Caller)) throw new Error('route reached without authentication');
  return caller;
}

/** For Express routes (the admin API): the Caller goes to res.locals, Express's per-request place. */
export function expressAuth(authenticate: Authenticate): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    authenticate(req, res).then((caller) => {
      if (!caller) return;
      res.locals.caller = caller;
      next();
    }, next);
  };
}
