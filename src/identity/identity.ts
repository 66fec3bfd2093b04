// The normalized identity the policy sees (input.identity). Built only from verified claims
// by the issuer's profile (profiles.ts).
import type { JWTPayload } from 'jose';

export interface Identity {
  issuer: string;
  /** The stable user key: Okta uid, Entra tid/oid, OIDC sub (for app tokens: the client). */
  subject: string;
  tenant?: string;
  user_id: string;
  client_id: string;
  scopes: string[];
  roles: string[];
  groups: string[];
  /** The IdP left groups out (too many); `groups` holds them only if resolved from the endpoint. */
  groups_overage: boolean;
  token_type: 'user' | 'app';
  auth_time?: number;
  acr?: string;
  amr: string[];
  claims: JWTPayload;
}
