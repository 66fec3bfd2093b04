// Authentication failures. The message is safe to show the client (it never contains the
// token); `error` (the OAuth error value) maps to the HTTP status and the WWW-Authenticate
// header.
import { McpgateError } from '../util/errors.js';

export class AuthError extends McpgateError {
  static override readonly code = 'ERR_AUTH_REFUSED';

  constructor(
    message: string,
    readonly error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' = 'invalid_token',
  ) {
    super(message);
  }
}
