// Authenticates every /mcp request with its bearer token (re-verified on every request; a
// session id is never a substitute). On success the normalized identity is attached for
// the MCP layer; the token itself goes no further.
import type { Request, RequestHandler } from 'express';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Identity } from '../identity/identity.js';
import { AuthError, type TokenVerifier } from '../identity/verifier.js';
import type { Logger } from '../util/logger.js';
import { GATEWAY_REFUSED, sendJsonRpcError } from './jsonrpc-errors.js';

export interface AuthenticatedRequest extends Request {
  auth?: AuthInfo;
  identity?: Identity;
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

export function bearerAuth(
  getVerifier: () => TokenVerifier | undefined,
  resourceMetadataUrl: () => string,
  logger: Logger,
): RequestHandler {
  return (req: AuthenticatedRequest, res, next) => {
    const verifier = getVerifier();
    if (!verifier) {
      sendJsonRpcError(res, 503, GATEWAY_REFUSED, 'gateway is starting; retry shortly');
      return;
    }
    const challenge = (error?: string, description?: string): Record<string, string> => {
      const parts = [`resource_metadata=${quote(resourceMetadataUrl())}`];
      if (error) parts.push(`error=${quote(error)}`);
      if (description) parts.push(`error_description=${quote(description)}`);
      return { 'WWW-Authenticate': `Bearer ${parts.join(', ')}` };
    };
    if ('access_token' in (req.query ?? {})) {
      const message =
        'access tokens are not accepted in the query string; send Authorization: Bearer';
      sendJsonRpcError(res, 401, GATEWAY_REFUSED, message, challenge('invalid_request', message));
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
      const message = 'Authorization header must be "Bearer <token>"';
      sendJsonRpcError(res, 401, GATEWAY_REFUSED, message, challenge('invalid_request', message));
      return;
    }
    verifier.verify(match[1]).then(
      (identity) => {
        req.identity = identity;
        req.auth = {
          token: '[verified; not forwarded]',
          clientId: identity.client_id,
          scopes: identity.scopes,
          extra: { identity, remoteAddress: req.socket.remoteAddress },
        };
        next();
      },
      (err: unknown) => {
        const message = err instanceof AuthError ? err.message : 'token could not be verified';
        logger.info('authentication refused', { reason: message, remote: req.ip });
        sendJsonRpcError(
          res,
          401,
          GATEWAY_REFUSED,
          `invalid token: ${message}`,
          challenge('invalid_token', message),
        );
      },
    );
  };
}
