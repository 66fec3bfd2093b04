// Verifies bearer access tokens against the configured issuers. The issuer entry is chosen
// by the token's iss (for Entra: the tid substituted into the issuer template, tenant
// allow-listed); the signature must verify with that issuer's keys and an allowed
// algorithm; audience must be this gateway; then the issuer's profile normalizes the
// claims. Every failure is an AuthError whose message is safe to return and log.
import {
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import type { IssuerConfig } from '../config/auth.js';
import { DEFAULT_MAX_TOKEN_LIFETIME_S } from '../config/auth-schema.js';
import type { Logger } from '../util/logger.js';
import { AuthError } from './errors.js';
import { GroupsOverageResolver } from './groups-overage.js';
import type { Identity } from './identity.js';
import { KeySet, KeySetUnavailableError, type KeySetStatus } from './keys.js';
import { createProfile, type IssuerProfile } from './profiles.js';
import { VerifiedTokenCache, type CachedVerification } from './token-cache.js';

export { AuthError } from './errors.js';

/** Tokens this large are refused before parsing (a real access token is a few KB). */
const MAX_TOKEN_BYTES = 16 * 1024;
/**
 * Verified tokens remembered at once. A client reuses one token for many requests, so a
 * few thousand cover every active client; beyond that the least recently used is dropped.
 */
const VERIFIED_CACHE_ENTRIES = 10_000;

interface TrustedIssuer {
  profile: IssuerProfile;
  keys: KeySet;
  audiences: string[];
  overage: GroupsOverageResolver | undefined;
}

export interface IssuerStatus extends KeySetStatus {
  issuer: string;
  profile: string;
}

export class TokenVerifier {
  private readonly trusted: TrustedIssuer[];
  private readonly verified = new VerifiedTokenCache(VERIFIED_CACHE_ENTRIES);

  constructor(
    issuers: IssuerConfig[],
    private readonly resourceUri: string,
    private readonly clockToleranceS: number,
    logger: Logger,
    /** auth.max_token_lifetime_s: the longest exp - iat accepted. */
    private readonly maxTokenLifetimeS: number = DEFAULT_MAX_TOKEN_LIFETIME_S,
  ) {
    this.trusted = issuers.map((config) => ({
      profile: createProfile(config),
      keys: new KeySet(
        {
          label: config.label,
          jwksUri: config.jwksUri,
          discoveryIssuer: config.discoveryIssuer,
          allowInsecureHttp: config.allowInsecureHttp,
          cooldownMs: config.jwksCooldownMs,
          maxAgeMs: config.jwksMaxAgeMs,
        },
        logger,
      ),
      audiences: config.audiences.length > 0 ? config.audiences : [resourceUri],
      overage:
        config.profile === 'entra' && config.groupsOverage
          ? new GroupsOverageResolver(config.groupsOverage, logger)
          : undefined,
    }));
  }

  get resource(): string {
    return this.resourceUri;
  }

  /** Fetches every issuer's keys now (failures are logged; verification retries later). */
  async warmUp(): Promise<void> {
    await Promise.all(this.trusted.map((t) => t.keys.refresh()));
    for (const t of this.trusted) t.keys.startBackgroundRefresh();
  }

  stop(): void {
    for (const t of this.trusted) t.keys.stop();
  }

  /** Ready once every issuer has keys (cached keys count while the IdP is unreachable). */
  isReady(): boolean {
    return this.trusted.every((t) => t.keys.hasKeys);
  }

  status(): IssuerStatus[] {
    return this.trusted.map((t) => ({
      issuer: t.profile.config.label,
      profile: t.profile.config.profile,
      ...t.keys.status(),
    }));
  }

  async verify(token: string): Promise<Identity> {
    if (token.length > MAX_TOKEN_BYTES) throw new AuthError('token is too large');
    const digest = VerifiedTokenCache.digest(token);
    const cached = this.verified.get(digest, Date.now());
    if (cached) return withGroups(cached);
    let unverified: JWTPayload;
    try {
      decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw new AuthError('token is not a well-formed JWT');
    }
    const match = this.findIssuer(unverified);
    if (!match) throw new AuthError('token issuer is not trusted by this gateway');
    const { trusted, issuer } = match;
    // Read before verifying: a key set that changes meanwhile makes the entry stale at once.
    const generation = trusted.keys.generation;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, trusted.keys.getKey, {
        issuer,
        audience: trusted.audiences,
        algorithms: trusted.profile.config.algorithms,
        clockTolerance: this.clockToleranceS,
        requiredClaims: ['exp', 'iat'],
        ...(trusted.profile.requiredTyp ? { typ: trusted.profile.requiredTyp } : {}),
      }));
    } catch (err) {
      throw new AuthError(describeVerifyError(err));
    }
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + this.clockToleranceS) {
      throw new AuthError('token was issued in the future');
    }
    // jwtVerify required both. A long-lived token stays useful to whoever steals it.
    const lifetime = Number(payload.exp) - Number(payload.iat);
    if (!(lifetime <= this.maxTokenLifetimeS)) {
      throw new AuthError(
        `token lifetime (exp - iat) of ${lifetime} s is over this gateway's limit of ${this.maxTokenLifetimeS} s; get a shorter-lived token from your IdP`,
      );
    }
    const identity = trusted.profile.normalize(payload);
    if (identity.subject.trim() === '') {
      // Sessions and policy key on the subject; an empty one would merge strangers.
      throw new AuthError('token has no stable subject for its issuer profile');
    }
    if (identity.token_type === 'app' && !trusted.profile.config.allowAppTokens) {
      throw new AuthError('app-only tokens are not accepted here: a user must sign in');
    }
    const verified = {
      identity,
      oid: typeof payload.oid === 'string' ? payload.oid : '',
      overage: trusted.overage,
    };
    // jwtVerify required exp, so it is a number here.
    if (typeof payload.exp === 'number') {
      this.verified.set(digest, verified, payload.exp, trusted.keys, generation);
    }
    return withGroups(verified);
  }

  private findIssuer(claims: JWTPayload): { trusted: TrustedIssuer; issuer: string } | undefined {
    // An entry that recognises the token but refuses it (an Entra tenant not on its list)
    // must not hide a later entry that accepts it; its refusal is the answer only if no
    // entry accepts the token.
    let refusal: AuthError | undefined;
    for (const trusted of this.trusted) {
      try {
        const issuer = trusted.profile.match(claims);
        if (issuer !== undefined) return { trusted, issuer };
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        refusal ??= err;
      }
    }
    if (refusal) throw refusal;
    return undefined;
  }
}

/**
 * The identity as verified, with Entra's overage groups resolved for this request (the
 * resolver has its own cache and TTL, so a cached token does not pin its groups). The
 * cached identity itself is never modified: a copy carries the groups.
 */
async function withGroups({ identity, oid, overage }: CachedVerification): Promise<Identity> {
  if (!identity.groups_overage || !overage || !identity.tenant) return identity;
  const groups = await overage.resolve(identity.tenant, oid);
  return groups ? { ...identity, groups } : identity;
}

function describeVerifyError(err: unknown): string {
  if (err instanceof KeySetUnavailableError) return err.message;
  if (err instanceof joseErrors.JWTExpired) return 'token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud')
      return 'token audience is not this gateway (request a token for its resource URI)';
    if (err.claim === 'nbf') return 'token is not valid yet';
    if (err.claim === 'typ') return 'token is not an access token (typ must be at+jwt)';
    return `token claim "${err.claim}" is invalid: ${err.reason}`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token signing algorithm is not allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return 'token signing key is unknown to the issuer';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof joseErrors.JOSEError) return `token is invalid (${err.code})`;
  return 'token could not be verified';
}
