// Issuer profiles: which tokens an issuer entry trusts, and how their claims become the
// normalized identity the policy sees. Each IdP keys users differently; the stable key is
// never email, upn or (for Entra) the pairwise sub.
import type { JWTPayload } from 'jose';
import type {
  EntraIssuerConfig,
  IssuerConfig,
  OidcIssuerConfig,
  OktaIssuerConfig,
} from '../config/auth.js';
import type { Identity } from './identity.js';
import { AuthError } from './errors.js';

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A list claim (groups, roles, amr): an array, or a single string as one element. */
export function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string' && value !== '') return [value];
  return [];
}

/** Scopes: an array (Okta scp) or a space-separated string (scope, Entra scp). */
export function scopeList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  return stringList(value);
}

function common(
  claims: JWTPayload,
): Pick<Identity, 'issuer' | 'amr' | 'claims'> & Partial<Pick<Identity, 'auth_time' | 'acr'>> {
  const out: Pick<Identity, 'issuer' | 'amr' | 'claims'> &
    Partial<Pick<Identity, 'auth_time' | 'acr'>> = {
    issuer: claims.iss ?? '',
    amr: stringList(claims.amr),
    claims,
  };
  if (typeof claims.auth_time === 'number') out.auth_time = claims.auth_time;
  const acr = str(claims.acr);
  if (acr !== undefined) out.acr = acr;
  return out;
}

export interface IssuerProfile {
  readonly config: IssuerConfig;
  /**
   * The exact issuer string this entry trusts for a token with these (unverified) claims,
   * undefined when the token is not this entry's. Throws AuthError when the entry
   * recognises the token but refuses it (an Entra tenant not on the allow-list).
   */
  match(claims: JWTPayload): string | undefined;
  /** jose `typ` check, when the profile requires one. */
  readonly requiredTyp: string | undefined;
  normalize(claims: JWTPayload): Identity;
}

class OidcProfile implements IssuerProfile {
  constructor(readonly config: OidcIssuerConfig) {}
  get requiredTyp(): string | undefined {
    return this.config.requireAtJwt ? 'at+jwt' : undefined;
  }
  match(claims: JWTPayload): string | undefined {
    return claims.iss === this.config.issuer ? this.config.issuer : undefined;
  }
  normalize(claims: JWTPayload): Identity {
    const subject = str(claims.sub) ?? '';
    const clientId = str(claims.client_id) ?? str(claims.azp) ?? '';
    // RFC 9068 §2.2: a token for the client itself (client credentials) has sub = client_id.
    const isApp = subject === '' || subject === clientId;
    return {
      ...common(claims),
      subject,
      user_id: isApp ? '' : subject,
      client_id: clientId,
      scopes: scopeList(claims.scope ?? claims.scp),
      roles: stringList(claims.roles),
      groups: stringList(claims[this.config.groupsClaim]),
      groups_overage: false,
      token_type: isApp ? 'app' : 'user',
    };
  }
}

class OktaProfile implements IssuerProfile {
  readonly requiredTyp = undefined;
  constructor(readonly config: OktaIssuerConfig) {}
  match(claims: JWTPayload): string | undefined {
    const iss = claims.iss?.replace(/\/$/, '');
    return iss === this.config.issuer ? claims.iss : undefined;
  }
  normalize(claims: JWTPayload): Identity {
    // uid is the immutable user id (00u...); sub is the login, which can change.
    const uid = str(claims.uid);
    const clientId = str(claims.cid) ?? '';
    return {
      ...common(claims),
      subject: uid ?? clientId,
      user_id: uid ?? '',
      client_id: clientId,
      scopes: scopeList(claims.scp),
      roles: stringList(claims.roles),
      groups: stringList(claims[this.config.groupsClaim]),
      groups_overage: false,
      token_type: uid ? 'user' : 'app',
    };
  }
}

class EntraProfile implements IssuerProfile {
  readonly requiredTyp = undefined;
  constructor(readonly config: EntraIssuerConfig) {}
  match(claims: JWTPayload): string | undefined {
    const tid = str(claims.tid)?.toLowerCase();
    if (tid === undefined || claims.iss === undefined) return undefined;
    for (const { template } of this.config.templates) {
      // Exact issuer after substituting the token's own tid.
      if (template.replace('{tid}', str(claims.tid) ?? '') !== claims.iss) continue;
      if (!this.config.tenants.includes(tid)) {
        throw new AuthError(`Entra tenant ${tid} is not allowed by this gateway`);
      }
      return claims.iss;
    }
    return undefined;
  }
  normalize(claims: JWTPayload): Identity {
    const tid = str(claims.tid) ?? '';
    const oid = str(claims.oid) ?? '';
    const names = claims._claim_names as Record<string, unknown> | undefined;
    const overage = claims.groups === undefined && typeof names?.groups === 'string';
    // App-only: idtyp=app (optional claim) or no delegated scopes at all.
    const isApp = claims.idtyp === 'app' || claims.scp === undefined;
    return {
      ...common(claims),
      tenant: tid,
      // tid+oid: stable across apps; sub is pairwise per application.
      subject: oid === '' ? '' : `${tid}/${oid}`,
      user_id: isApp ? '' : oid,
      client_id: str(claims.azp) ?? str(claims.appid) ?? '',
      scopes: scopeList(claims.scp),
      roles: stringList(claims.roles),
      groups: stringList(claims.groups),
      groups_overage: overage,
      token_type: isApp ? 'app' : 'user',
    };
  }
}

export function createProfile(config: IssuerConfig): IssuerProfile {
  switch (config.profile) {
    case 'oidc':
      return new OidcProfile(config);
    case 'okta':
      return new OktaProfile(config);
    case 'entra':
      return new EntraProfile(config);
  }
}
