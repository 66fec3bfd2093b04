// Token exchange on the dev IdP, through the issuers' real token endpoints: RFC 8693 token
// exchange on okta and oidc issuers, Microsoft's on-behalf-of (jwt-bearer) on entra-v2 ones.
// Only the `mcpgate-gateway` client may use them. The subject token is verified like a
// resource server would (this issuer's keys, exact issuer, the IdP's audience, expiry), then
// a short-lived token for one downstream audience is minted with the scopes the exchange
// policy allows. The policy can also withhold consent or demand MFA step-up, producing the
// errors Entra returns (suberror consent_required; interaction_required with a claims
// challenge) so the gateway's handling of them can be tested.
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { IssuerShape } from './claims.js';
import { entraUserObjectId, oktaUserId } from './ids.js';
import type { SigningJwk } from './keys.js';
import type { ExchangeUserRule } from './types.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** The confidential client that may exchange tokens. */
export const GATEWAY_CLIENT_ID = 'mcpgate-gateway';
export const DEFAULT_EXCHANGE_TTL_SECONDS = 300;
/** The claims challenge of interaction_required unless the stepUpClaims option says otherwise. */
export const DEFAULT_STEP_UP_CLAIMS = '{"access_token":{"acr":{"essential":true}}}';

export const TOKEN_EXCHANGE_PARAMS = [
  'subject_token',
  'subject_token_type',
  'audience',
  'scope',
  'requested_token_type',
  'actor_token',
  'actor_token_type',
] as const;
export const JWT_BEARER_PARAMS = ['assertion', 'requested_token_use', 'scope'] as const;

/** Scopes Entra accepts next to resource scopes and that name no resource. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

function matches(rule: ExchangeUserRule, isUser: (login: string) => boolean, aud: string): boolean {
  const audienceOk = rule.audience === undefined || rule.audience === '*' || rule.audience === aud;
  return audienceOk && (rule.user === '*' || isUser(rule.user));
}

/** The exchange policy, shared by every issuer of one dev IdP and changeable at run time. */
export class ExchangePolicy {
  private readonly consentMissing: ExchangeUserRule[];
  private readonly stepUp: ExchangeUserRule[];

  constructor(
    private readonly scopes: ReadonlyMap<string, readonly string[]>,
    readonly ttlSeconds: number,
    readonly stepUpClaims: string,
    consentMissing: ExchangeUserRule[],
    stepUp: ExchangeUserRule[],
  ) {
    this.consentMissing = consentMissing.map((r) => ({ ...r }));
    this.stepUp = stepUp.map((r) => ({ ...r }));
  }

  /** The scopes allowed for an audience; undefined when it is not an exchange target. */
  allowed(audience: string): readonly string[] | undefined {
    return this.scopes.get(audience);
  }

  audiences(): string[] {
    return [...this.scopes.keys()];
  }

  lacksConsent(isUser: (login: string) => boolean, audience: string): boolean {
    return this.consentMissing.some((r) => matches(r, isUser, audience));
  }

  needsStepUp(isUser: (login: string) => boolean, audience: string): boolean {
    return this.stepUp.some((r) => matches(r, isUser, audience));
  }

  setConsent(user: string, audience: string, granted: boolean): void {
    ExchangePolicy.setRule(this.consentMissing, { user, audience }, !granted);
  }

  setStepUp(user: string, required: boolean, audience = '*'): void {
    ExchangePolicy.setRule(this.stepUp, { user, audience }, required);
  }

  /** Adds the rule, or removes the rules for exactly that user and audience. */
  private static setRule(rules: ExchangeUserRule[], rule: ExchangeUserRule, present: boolean) {
    const same = (r: ExchangeUserRule) =>
      r.user === rule.user && (r.audience ?? '*') === (rule.audience ?? '*');
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i];
      if (r !== undefined && same(r)) rules.splice(i, 1);
    }
    if (present) rules.push(rule);
  }
}

/** Checks the exchangeScopes / exchangeTtlSeconds options and builds the policy. */
export function exchangePolicy(options: {
  exchangeScopes?: Record<string, string[]> | undefined;
  exchangeTtlSeconds?: number | undefined;
  stepUpClaims?: string | undefined;
  exchangeConsentMissing?: ExchangeUserRule[] | undefined;
  exchangeStepUp?: ExchangeUserRule[] | undefined;
}): ExchangePolicy {
  const scopes = new Map<string, string[]>();
  for (const [audience, list] of Object.entries(options.exchangeScopes ?? {})) {
    if (audience === '' || /\s/.test(audience)) {
      throw new Error(`dev IdP: exchange audience ${JSON.stringify(audience)} is not valid`);
    }
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && /^\S+$/.test(s))) {
      throw new Error(`dev IdP: exchangeScopes[${audience}] must be scopes without spaces`);
    }
    scopes.set(audience, [...new Set(list)]);
  }
  const ttl = options.exchangeTtlSeconds ?? DEFAULT_EXCHANGE_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86400) {
    throw new Error('dev IdP: exchangeTtlSeconds must be an integer between 1 and 86400');
  }
  const stepUpClaims = options.stepUpClaims ?? DEFAULT_STEP_UP_CLAIMS;
  try {
    JSON.parse(stepUpClaims);
  } catch {
    throw new Error('dev IdP: stepUpClaims must be a JSON claims request');
  }
  return new ExchangePolicy(
    scopes,
    ttl,
    stepUpClaims,
    options.exchangeConsentMissing ?? [],
    options.exchangeStepUp ?? [],
  );
}

/** The user behind a verified subject token. */
export interface SubjectIdentity {
  /** An app-only token (client credentials): not exchangeable. */
  app: boolean;
  /** oidc-provider's accountId for the new token. */
  accountId: string;
  /** Whether the token is for this login (as given to mintUserToken). */
  is: (login: string) => boolean;
  /** Whether the user authenticated with MFA. */
  mfa: boolean;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Who a token of `shape`'s issuer is about; undefined when it names nobody. */
export function subjectIdentity(
  shape: IssuerShape,
  claims: JWTPayload,
): SubjectIdentity | undefined {
  const amr = Array.isArray(claims.amr) ? (claims.amr as unknown[]) : [];
  const acr = str(claims.acr);
  const mfa = amr.includes('mfa') || (acr !== undefined && acr !== '0' && acr !== '1');
  const sub = str(claims.sub);
  switch (shape.profile) {
    case 'okta':
    case 'okta-org': {
      // Okta user tokens carry the stable uid; app tokens have none.
      const uid = str(claims.uid);
      if (sub === undefined) return undefined;
      return { app: uid === undefined, accountId: sub, is: (l) => uid === oktaUserId(l), mfa };
    }
    case 'entra-v2':
    case 'entra-v1': {
      const oid = str(claims.oid);
      if (oid === undefined) return undefined;
      const tid = shape.tenant ?? '';
      return {
        app: claims.idtyp === 'app' || oid === sub,
        accountId: oid,
        is: (l) => oid === entraUserObjectId(tid, l),
        mfa,
      };
    }
    case 'oidc': {
      // RFC 9068 §2.2: a client credentials token's sub is the client's identifier.
      if (sub === undefined) return undefined;
      return { app: sub === str(claims.client_id), accountId: sub, is: (l) => l === sub, mfa };
    }
  }
}

/** Why jose refused a subject token, in words for error_description. */
function refusal(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'it has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'it was not issued by this issuer';
    if (err.claim === 'aud') return 'its audience is not this IdP’s audience';
    return `its ${err.claim} claim is not valid`;
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return 'it is not signed by a key of this issuer';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'its signature is invalid';
  return 'it is not a valid JWT';
}

export interface SubjectVerifier {
  /** The verified claims, or a description of why the token was refused. */
  verify(token: string): Promise<{ claims: JWTPayload } | { refused: string }>;
}

/** Verifies tokens against the issuer's own public keys, issuer and the IdP's audience. */
export function subjectVerifier(
  issuer: string,
  audience: string,
  keys: SigningJwk[],
): SubjectVerifier {
  const jwks = createLocalJWKSet({
    keys: keys.map(({ kty, kid, n, e, alg, use }) => ({ kty, kid, n, e, alg, use })),
  });
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer,
          audience,
          algorithms: ['RS256'],
          requiredClaims: ['exp', 'iat'],
        });
        return { claims: payload };
      } catch (err) {
        return { refused: refusal(err) };
      }
    },
  };
}

/** The requested scopes, space-separated, without duplicates. */
export function scopeList(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter((s) => s !== ''))];
}

/** What an on-behalf-of scope of `audience` starts with: the audience and one slash. */
export function oboScopePrefix(audience: string): string {
  return audience.endsWith('/') ? audience : `${audience}/`;
}

export type ResolvedObo =
  | { audience: string; scopes: string[] }
  | { error: 'invalid_scope' | 'invalid_resource'; description: string };

/**
 * Entra's on-behalf-of scopes: `<audience>/.default` is every scope the policy allows for
 * the audience, `<audience>/<scope>` that scope; all of one resource; OIDC scopes ignored.
 */
export function resolveOboScopes(policy: ExchangePolicy, scope: string): ResolvedObo {
  // The longest configured audience first, so `api://x/sub` is not taken for `api://x`. An
  // audience written with a trailing slash takes no second one (`api://x/` + `.default`).
  const audiences = policy.audiences().sort((a, b) => b.length - a.length);
  let audience: string | undefined;
  const names: string[] = [];
  for (const requested of scopeList(scope)) {
    if (OIDC_SCOPES.has(requested)) continue;
    const aud = audiences.find((a) => requested.startsWith(oboScopePrefix(a)));
    if (aud === undefined) {
      return {
        error: 'invalid_resource',
        description: `AADSTS500011: The resource principal of scope ${requested} was not found in the tenant.`,
      };
    }
    if (audience !== undefined && audience !== aud) {
      return {
        error: 'invalid_scope',
        description:
          'AADSTS28000: Provided value for the input parameter scope is not valid because it contains more than one resource.',
      };
    }
    audience = aud;
    names.push(requested.slice(oboScopePrefix(aud).length));
  }
  if (audience === undefined) {
    return {
      error: 'invalid_scope',
      description:
        'AADSTS70011: The provided value for the input parameter scope is not valid: it names no resource.',
    };
  }
  const allowed = policy.allowed(audience) ?? [];
  if (names.includes('.default')) {
    if (names.length > 1) {
      return {
        error: 'invalid_scope',
        description:
          'AADSTS70011: The provided value for the input parameter scope is not valid: .default cannot be combined with other scopes.',
      };
    }
    return { audience, scopes: [...allowed] };
  }
  const outside = names.filter((n) => !allowed.includes(n));
  if (outside.length > 0) {
    return {
      error: 'invalid_scope',
      description: `AADSTS70011: The provided value for the input parameter scope is not valid: ${outside.join(' ')} is not granted for ${audience}.`,
    };
  }
  return { audience, scopes: names };
}

/**
 * Members an error response gets beyond oidc-provider's {error, error_description}: Entra's
 * suberror, claims challenge and error_codes. Set by a grant before it throws; merged into
 * the rendered body by a middleware around the provider (see withErrorExtras).
 */
const errorExtras = new WeakMap<object, Record<string, unknown>>();

export function setErrorExtras(ctx: KoaContextWithOIDC, extras: Record<string, unknown>): void {
  errorExtras.set(ctx, extras);
}

export function errorExtrasOf(ctx: object): Record<string, unknown> | undefined {
  return errorExtras.get(ctx);
}
