// The normalized identity the policy sees (input.identity). Built only from verified claims.
import type { JWTPayload } from 'jose';

export interface Identity {
  issuer: string;
  subject: string;
  tenant?: string;
  user_id: string;
  client_id: string;
  scopes: string[];
  roles: string[];
  groups: string[];
  groups_overage: boolean;
  token_type: 'user' | 'app';
  auth_time?: number;
  acr?: string;
  amr: string[];
  claims: JWTPayload;
}

/** A list claim (groups, roles, amr): an array, or a single string as one element. */
function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string' && value !== '') return [value];
  return [];
}

/** Scopes: an array (Okta scp) or a space-separated string (scope, Entra scp). */
function scopeList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  return stringList(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Generic OIDC / RFC 9068 normalization (issuer-specific profiles refine it later). */
export function normalizeClaims(claims: JWTPayload, groupsClaim: string): Identity {
  const subject = optionalString(claims.sub) ?? '';
  const clientId =
    optionalString(claims.client_id) ??
    optionalString(claims.azp) ??
    optionalString(claims.cid) ??
    '';
  const scopes = scopeList(claims.scope ?? claims.scp);
  const isApp = claims.idtyp === 'app' || subject === '' || subject === clientId;
  const identity: Identity = {
    issuer: claims.iss ?? '',
    subject,
    user_id: subject,
    client_id: clientId,
    scopes,
    roles: stringList(claims.roles),
    groups: stringList(claims[groupsClaim]),
    groups_overage: false,
    token_type: isApp ? 'app' : 'user',
    amr: stringList(claims.amr),
    claims,
  };
  const tenant = optionalString(claims.tid);
  if (tenant !== undefined) identity.tenant = tenant;
  if (typeof claims.auth_time === 'number') identity.auth_time = claims.auth_time;
  const acr = optionalString(claims.acr);
  if (acr !== undefined) identity.acr = acr;
  return identity;
}
