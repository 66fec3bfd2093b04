// Sign-in to the console: OpenID Connect authorization code with PKCE (openid-client) at the
// configured IdP, asking for an access token for the gateway itself (RFC 8707 resource =
// the gateway's resource URI). That token is verified by the gateway's own TokenVerifier,
// so a person has in the console exactly the identity the policy sees on /mcp (issuer,
// subject, roles, groups), and every console action is decided by the policy as that
// identity. The state of a sign-in, and then the signed-in session, live in cookies sealed
// with AES-256-GCM (nothing is kept in a process: any replica with the same cookie_key
// serves them). CSRF tokens are derived from the session's own random id.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import * as oidc from 'openid-client';
import type { ConsoleConfig } from '../../config/console.js';
import { readValue } from '../../config/secrets.js';
import type { Identity } from '../../identity/identity.js';
import type { TokenVerifier } from '../../identity/verifier.js';
import { McpgateError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';

/** Signing in failed: the IdP, the state, the token. The message says what to do. */
export class ConsoleSignInError extends McpgateError {
  static override readonly code = 'ERR_CONSOLE_SIGN_IN';
}

/** A sign-in under way: what the callback must find again. */
interface LoginState {
  state: string;
  verifier: string;
  /** Where to go once signed in (a console path). */
  back: string;
  exp: number;
}

/** A signed-in console session. */
export interface ConsoleSession {
  /** Random id; the CSRF token is an HMAC of it. */
  sid: string;
  /** The access token for the gateway (verified again on every request, cached). */
  token: string;
  exp: number;
}

export interface ConsoleAuthOptions {
  config: ConsoleConfig;
  /** The gateway's base URL: the redirect URI is <base>/console/callback. */
  baseUrl: () => string;
  /** The gateway's resource URI: the audience of the console's access token. */
  resource: () => string;
  verifier: () => TokenVerifier | undefined;
  logger: Logger;
}

const LOGIN_TTL_MS = 10 * 60 * 1000;

export class ConsoleAuth {
  private readonly key: Buffer;
  private discovered: Promise<oidc.Configuration> | undefined;

  constructor(private readonly options: ConsoleAuthOptions) {
    const { cookieKey } = options.config;
    if (cookieKey === undefined) {
      this.key = randomBytes(32);
    } else {
      const material = readValue(cookieKey, 'console.cookie_key');
      if (Buffer.byteLength(material) < 32) {
        throw new ConsoleSignInError('console.cookie_key must be at least 32 bytes');
      }
      this.key = createHash('sha256').update(material).digest();
    }
  }

  get redirectUri(): string {
    return `${this.options.baseUrl()}/console/callback`;
  }

  /** Where the browser goes to sign in, and the sealed state its callback must bring back. */
  async begin(back: string): Promise<{ url: string; cookie: string }> {
    const config = await this.configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const parameters: Record<string, string> = {
      redirect_uri: this.redirectUri,
      scope: ['openid', ...this.options.config.scopes].join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      resource: this.options.resource(),
    };
    const login: LoginState = { state, verifier, back, exp: Date.now() + LOGIN_TTL_MS };
    return {
      url: oidc.buildAuthorizationUrl(config, parameters).href,
      cookie: this.seal(login),
    };
  }

  /** The IdP sent the browser back: code for token, token verified as the gateway does. */
  async finish(
    currentUrl: URL,
    sealedLogin: string | undefined,
  ): Promise<{ session: ConsoleSession; identity: Identity; back: string }> {
    const login = this.open<LoginState>(sealedLogin);
    if (!login || login.exp < Date.now()) {
      throw new ConsoleSignInError(
        'this sign-in has no state in this browser (it expired, or cookies are blocked); sign in again',
      );
    }
    const config = await this.configuration();
    let tokens: oidc.TokenEndpointResponse;
    try {
      tokens = await oidc.authorizationCodeGrant(
        config,
        currentUrl,
        { pkceCodeVerifier: login.verifier, expectedState: login.state },
        { resource: this.options.resource() },
      );
    } catch (err) {
      throw new ConsoleSignInError(
        `the IdP did not complete the sign-in: ${err instanceof Error ? err.message : String(err)}; sign in again`,
        { cause: err },
      );
    }
    const identity = await this.identityOf(tokens.access_token);
    const tokenExp = Number((identity.claims as { exp?: unknown }).exp) * 1000;
    const exp = Math.min(
      Date.now() + this.options.config.sessionTtlMs,
      Number.isFinite(tokenExp) ? tokenExp : Date.now(),
    );
    return {
      session: { sid: randomBytes(16).toString('base64url'), token: tokens.access_token, exp },
      identity,
      back: login.back,
    };
  }

  /** The signed-in person of a session cookie, or undefined (not signed in, expired, refused). */
  async current(
    sealed: string | undefined,
  ): Promise<{ session: ConsoleSession; identity: Identity } | undefined> {
    const session = this.open<ConsoleSession>(sealed);
    if (!session || session.exp < Date.now()) return undefined;
    try {
      return { session, identity: await this.identityOf(session.token) };
    } catch {
      return undefined;
    }
  }

  /** The CSRF token of a session: an HMAC of its random id (never in a cookie). */
  csrfToken(session: ConsoleSession): string {
    return createHmac('sha256', this.key).update(`csrf:${session.sid}`).digest('base64url');
  }

  csrfMatches(session: ConsoleSession, token: unknown): boolean {
    if (typeof token !== 'string') return false;
    const expected = Buffer.from(this.csrfToken(session));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  seal(value: object): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  open<T>(sealed: string | undefined): T | undefined {
    if (sealed === undefined || sealed.length > 8192) return undefined;
    try {
      const bytes = Buffer.from(sealed, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(12, 28));
      const json = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]);
      return JSON.parse(json.toString('utf8')) as T;
    } catch {
      return undefined;
    }
  }

  private async identityOf(token: string): Promise<Identity> {
    const verifier = this.options.verifier();
    if (!verifier) throw new ConsoleSignInError('the gateway is still starting; try again');
    try {
      return await verifier.verify(token);
    } catch (err) {
      throw new ConsoleSignInError(
        `the IdP's access token is not one this gateway accepts: ${err instanceof Error ? err.message : String(err)} (the console's token must be for ${this.options.resource()}, from an issuer in auth.issuers)`,
        { cause: err },
      );
    }
  }

  /** OIDC discovery, once; a failure is retried at the next sign-in. */
  private configuration(): Promise<oidc.Configuration> {
    const { config } = this.options;
    this.discovered ??= oidc
      .discovery(
        new URL(config.issuer),
        config.clientId,
        { redirect_uris: [this.redirectUri], response_types: ['code'] },
        config.clientSecret === undefined
          ? oidc.None()
          : oidc.ClientSecretPost(readValue(config.clientSecret, 'console.client_secret')),
        config.allowInsecureHttp ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      .catch((err: unknown) => {
        this.discovered = undefined;
        this.options.logger.warn('console: OpenID discovery failed', {
          issuer: config.issuer,
          error: err instanceof Error ? err.message : String(err),
        });
        throw new ConsoleSignInError(
          `the console cannot reach its IdP (${config.issuer}): ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      });
    return this.discovered;
  }
}
