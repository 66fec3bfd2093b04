// Verifies bearer JWTs: the issuer must be configured, the signature must verify against
// that issuer's JWKS with an allowed algorithm, and the audience must be this gateway.
// Failures are AuthErrors carrying the text for WWW-Authenticate; nothing else leaks.
import {
  createRemoteJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import * as oidc from 'openid-client';
import type { IssuerConfig } from '../config/load.js';
import { normalizeClaims, type Identity } from './identity.js';

export class AuthError extends Error {
  constructor(
    message: string,
    readonly error: 'invalid_request' | 'invalid_token' = 'invalid_token',
  ) {
    super(message);
  }
}

/** Tokens this large are refused before parsing (a real access token is a few KB). */
const MAX_TOKEN_BYTES = 16 * 1024;

interface TrustedIssuer {
  config: IssuerConfig;
  audiences: string[];
  keys: JWTVerifyGetKey | undefined;
  keysPending: Promise<JWTVerifyGetKey> | undefined;
}

export class TokenVerifier {
  private readonly issuers = new Map<string, TrustedIssuer>();

  constructor(
    issuers: IssuerConfig[],
    private readonly resourceUri: string,
    private readonly clockToleranceS: number,
  ) {
    for (const config of issuers) {
      this.issuers.set(config.issuer, {
        config,
        audiences: config.audiences.length > 0 ? config.audiences : [resourceUri],
        keys: undefined,
        keysPending: undefined,
      });
    }
  }

  get resource(): string {
    return this.resourceUri;
  }

  /** Resolves every issuer's keys now; returns the issuers that failed (they retry lazily). */
  async warmUp(): Promise<Array<{ issuer: string; error: string }>> {
    const failures: Array<{ issuer: string; error: string }> = [];
    await Promise.all(
      [...this.issuers.values()].map(async (trusted) => {
        try {
          await this.keysFor(trusted);
        } catch (err) {
          failures.push({ issuer: trusted.config.issuer, error: (err as Error).message });
        }
      }),
    );
    return failures;
  }

  private keysFor(trusted: TrustedIssuer): Promise<JWTVerifyGetKey> {
    if (trusted.keys) return Promise.resolve(trusted.keys);
    trusted.keysPending ??= this.discoverKeys(trusted.config)
      .then((keys) => {
        trusted.keys = keys;
        return keys;
      })
      .finally(() => {
        trusted.keysPending = undefined;
      });
    return trusted.keysPending;
  }

  private async discoverKeys(config: IssuerConfig): Promise<JWTVerifyGetKey> {
    let jwksUri = config.jwksUri;
    if (!jwksUri) {
      const discovered = await oidc.discovery(
        new URL(config.issuer),
        'mcpgate',
        undefined,
        undefined,
        {
          execute: config.allowInsecureHttp ? [oidc.allowInsecureRequests] : [],
        },
      );
      jwksUri = discovered.serverMetadata().jwks_uri;
      if (!jwksUri) throw new Error(`issuer ${config.issuer} publishes no jwks_uri`);
    }
    return createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  }

  async verify(token: string): Promise<Identity> {
    if (token.length > MAX_TOKEN_BYTES) throw new AuthError('token is too large');
    let unverifiedIssuer: string | undefined;
    try {
      unverifiedIssuer = decodeJwt(token).iss;
    } catch {
      throw new AuthError('token is not a well-formed JWT');
    }
    const trusted = unverifiedIssuer === undefined ? undefined : this.issuers.get(unverifiedIssuer);
    if (!trusted) throw new AuthError('token issuer is not trusted by this gateway');
    let keys: JWTVerifyGetKey;
    try {
      keys = await this.keysFor(trusted);
    } catch (err) {
      throw new AuthError(
        `signing keys of the token issuer are unavailable: ${(err as Error).message}`,
      );
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: trusted.config.issuer,
        audience: trusted.audiences,
        algorithms: trusted.config.algorithms,
        clockTolerance: this.clockToleranceS,
        requiredClaims: ['exp', 'sub'],
      });
      if (typeof payload.sub !== 'string' || payload.sub.trim() === '') {
        // Sessions and policy key on the subject; an empty one would merge strangers.
        throw new AuthError('token has no subject');
      }
      return normalizeClaims(payload, trusted.config.groupsClaim);
    } catch (err) {
      if (err instanceof AuthError) throw err;
      throw new AuthError(describeJoseError(err));
    }
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud')
      return 'token audience is not this gateway (request a token for its resource URI)';
    if (err.claim === 'nbf') return 'token is not valid yet';
    return `token claim "${err.claim}" is invalid: ${err.reason}`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token signing algorithm is not allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return 'token signing key is unknown to the issuer';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof joseErrors.JWKSTimeout) return 'issuer keys could not be fetched in time';
  if (err instanceof joseErrors.JOSEError) return `token is invalid (${err.code})`;
  return 'token could not be verified';
}
