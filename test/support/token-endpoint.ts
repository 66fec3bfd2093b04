// An OAuth authorization server the tests write themselves: OIDC discovery and a token
// endpoint on loopback whose answer the test chooses per request (a token, an error that
// echoes the request back, an answer held until the test releases it), recording every
// form it was sent. The development IdP is the well-behaved IdP; this one misbehaves.
import {
  startLoopbackServer,
  type LoopbackServer,
  type Reply,
  type SeenRequest,
} from './loopback-server.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

export type TokenAnswer = (form: URLSearchParams, raw: SeenRequest) => Reply | Promise<Reply>;

export interface TokenEndpoint {
  /** The issuer to configure as `credential.issuer` (discovery is served under it). */
  issuer: string;
  tokenEndpoint: string;
  /** Decides each token request's answer; replace it as a test goes on. */
  answer: TokenAnswer;
  /** Every form posted to the token endpoint, in order. */
  forms: URLSearchParams[];
  /** How many token exchange requests arrived. */
  exchanges(): number;
}

/** A token endpoint's success answer. */
export function tokenReply(accessToken: string, expiresIn: number | undefined = 300): Reply {
  return {
    status: 200,
    body: JSON.stringify({
      access_token: accessToken,
      token_type: 'Bearer',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      ...(expiresIn === undefined ? {} : { expires_in: expiresIn }),
    }),
  };
}

/** An OAuth error answer. */
export function errorReply(body: Record<string, unknown>, status = 400): Reply {
  return { status, body: JSON.stringify(body) };
}

/** A promise the test resolves later: an answer held back. */
export interface Held<T> {
  promise: Promise<T>;
  release(value: T): void;
}

export function held<T>(): Held<T> {
  let release!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

/**
 * Serves an authorization server at `<server.base>/<name>` on `server` (several can share
 * one server). Until `answer` is replaced, every token request gets a fresh opaque token.
 */
export function addTokenEndpoint(server: LoopbackServer, name: string): TokenEndpoint {
  const issuer = `${server.base}/${name}`;
  let issued = 0;
  const endpoint: TokenEndpoint = {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    answer: () => tokenReply(`${name}-token-${++issued}`),
    forms: [],
    exchanges: () =>
      endpoint.forms.filter((f) => f.get('grant_type') === TOKEN_EXCHANGE_GRANT).length,
  };
  server.routes.set(`/${name}/.well-known/openid-configuration`, () => ({
    status: 200,
    body: JSON.stringify({
      issuer,
      token_endpoint: endpoint.tokenEndpoint,
      grant_types_supported: ['client_credentials', TOKEN_EXCHANGE_GRANT],
      token_endpoint_auth_methods_supported: ['client_secret_post'],
    }),
  }));
  server.routes.set(`/${name}/token`, (request) => {
    const form = new URLSearchParams(request.body);
    endpoint.forms.push(form);
    return endpoint.answer(form, request);
  });
  return endpoint;
}

/** A loopback server with one authorization server on it. */
export async function startTokenEndpoint(
  name = 'as',
): Promise<TokenEndpoint & { server: LoopbackServer }> {
  const server = await startLoopbackServer();
  return Object.assign(addTokenEndpoint(server, name), { server });
}
