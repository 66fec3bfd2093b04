// Authentication failures. The message is safe to show the client (it never contains the
// token); `status` and `error` map to the HTTP answer and its WWW-Authenticate header.
export class AuthError extends Error {
  constructor(
    message: string,
    readonly error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' = 'invalid_token',
  ) {
    super(message);
  }
}
