// How each profile shapes an access token. oidc-provider produces the base (jti, iat, exp,
// aud, iss, client_id, scope) and signs; this module decides the final header `typ` and the
// payload, mirroring what Okta, Entra ID (v1/v2) and an RFC 9068 issuer actually send.
import {
  entraGroupId,
  entraPairwiseSub,
  entraServicePrincipalId,
  entraUserObjectId,
  oktaUserId,
} from './ids.js';
import type { DevIdpProfile } from './types.js';

export interface IssuerShape {
  profile: DevIdpProfile;
  /** The exact `iss`. */
  issuer: string;
  /** Entra: the tid. */
  tenant: string | undefined;
  /** Okta groups claim name. */
  groupsClaim: string;
  /** Entra groups overage: where `_claim_sources` points for a user. */
  overageEndpoint(tid: string, oid: string): string;
}

export interface UserSubject {
  kind: 'user';
  clientId: string;
  user: string;
  groups: string[] | undefined;
  roles: string[] | undefined;
  scopes: string[] | undefined;
  groupsOverage: boolean;
  extraClaims: Record<string, unknown> | undefined;
}

export interface AppSubject {
  kind: 'app';
  clientId: string;
  roles: string[] | undefined;
  scopes: string[];
}

/**
 * A token obtained by exchange (RFC 8693 or Entra on-behalf-of): the same user as the verified
 * subject token, for the exchanging client, with the granted scopes only.
 */
export interface DelegatedSubject {
  kind: 'delegated';
  /** The exchanging client (the gateway). */
  clientId: string;
  /** Entra azpacr/appidacr: '1' client secret, '2' private_key_jwt (certificate). */
  clientAuth: '1' | '2';
  /** The verified claims of the subject token (issued by the same issuer). */
  subject: Record<string, unknown>;
  scopes: string[];
}

export type TokenSubject = UserSubject | AppSubject | DelegatedSubject;

/** What oidc-provider fixed for this token. */
export interface TokenBase {
  jti: string;
  iat: number;
  exp: number;
  aud: string | string[];
}

export interface ShapedToken {
  /** undefined: no `typ` header at all. */
  typ: string | undefined;
  payload: Record<string, unknown>;
}

const ENTRA_DEFAULT_SCOPES = ['access_as_user'];

function nonEmpty<T>(list: T[] | undefined): list is T[] {
  return list !== undefined && list.length > 0;
}

function okta(shape: IssuerShape, subject: TokenSubject, base: TokenBase): ShapedToken {
  const payload: Record<string, unknown> = {
    ver: 1,
    jti: `AT.${base.jti}`,
    iss: shape.issuer,
    aud: base.aud,
    iat: base.iat,
    exp: base.exp,
    cid: subject.clientId,
  };
  if (subject.kind === 'user') {
    payload.uid = oktaUserId(subject.user);
    payload.scp = subject.scopes ?? [];
    payload.auth_time = base.iat;
    payload.sub = subject.user;
    if (nonEmpty(subject.groups)) payload[shape.groupsClaim] = subject.groups;
    if (nonEmpty(subject.roles)) payload.roles = subject.roles;
  } else if (subject.kind === 'delegated') {
    // Okta's token exchange keeps the user (uid, sub); cid becomes the exchanging app; no act.
    payload.uid = subject.subject.uid;
    payload.scp = subject.scopes;
    payload.auth_time = subject.subject.auth_time;
    payload.sub = subject.subject.sub;
  } else {
    payload.scp = subject.scopes;
    payload.sub = subject.clientId;
    if (nonEmpty(subject.roles)) payload.roles = subject.roles;
  }
  return { typ: undefined, payload };
}

function entra(shape: IssuerShape, subject: TokenSubject, base: TokenBase): ShapedToken {
  const v1 = shape.profile === 'entra-v1';
  const tid = shape.tenant ?? '';
  const payload: Record<string, unknown> = {
    aud: base.aud,
    iss: shape.issuer,
    iat: base.iat,
    nbf: base.iat,
    exp: base.exp,
  };
  // The client: azp/azpacr in v2, appid/appidacr in v1 ("1": authenticated with a secret).
  payload[v1 ? 'appid' : 'azp'] = subject.clientId;
  payload[v1 ? 'appidacr' : 'azpacr'] = subject.kind === 'delegated' ? subject.clientAuth : '1';
  if (subject.kind === 'delegated') {
    // On-behalf-of: the same tenant and user object, the downstream API as aud, the middle
    // tier as azp; sub is pairwise for the new client.
    const oid = String(subject.subject.oid);
    payload.oid = oid;
    for (const name of v1 ? ['unique_name', 'upn'] : ['preferred_username']) {
      if (subject.subject[name] !== undefined) payload[name] = subject.subject[name];
    }
    if (subject.scopes.length > 0) payload.scp = subject.scopes.join(' ');
    payload.sub = entraPairwiseSub(tid, subject.clientId, oid);
  } else if (subject.kind === 'user') {
    const oid = entraUserObjectId(tid, subject.user);
    if (subject.groupsOverage) {
      payload._claim_names = { groups: 'src1' };
      payload._claim_sources = { src1: { endpoint: shape.overageEndpoint(tid, oid) } };
    } else if (nonEmpty(subject.groups)) {
      payload.groups = subject.groups.map((g) => entraGroupId(tid, g));
    }
    payload.oid = oid;
    if (v1) {
      payload.unique_name = subject.user;
      payload.upn = subject.user;
    } else {
      payload.preferred_username = subject.user;
    }
    if (nonEmpty(subject.roles)) payload.roles = subject.roles;
    const scopes = subject.scopes ?? ENTRA_DEFAULT_SCOPES;
    if (scopes.length > 0) payload.scp = scopes.join(' ');
    payload.sub = entraPairwiseSub(tid, subject.clientId, oid);
  } else {
    const oid = entraServicePrincipalId(tid, subject.clientId);
    payload.idtyp = 'app';
    payload.oid = oid;
    if (nonEmpty(subject.roles)) payload.roles = subject.roles;
    payload.sub = oid;
  }
  payload.tid = tid;
  payload.uti = base.jti;
  payload.ver = v1 ? '1.0' : '2.0';
  return { typ: 'JWT', payload };
}

function rfc9068(shape: IssuerShape, subject: TokenSubject, base: TokenBase): ShapedToken {
  if (subject.kind === 'delegated') return rfc9068Delegated(shape, subject, base);
  const payload: Record<string, unknown> = {
    iss: shape.issuer,
    sub: subject.kind === 'user' ? subject.user : subject.clientId,
    aud: base.aud,
    exp: base.exp,
    iat: base.iat,
    jti: base.jti,
    client_id: subject.clientId,
  };
  if (subject.kind === 'user') payload.auth_time = base.iat;
  if (nonEmpty(subject.scopes)) payload.scope = subject.scopes.join(' ');
  if (subject.kind === 'user' && nonEmpty(subject.groups)) payload.groups = subject.groups;
  if (nonEmpty(subject.roles)) payload.roles = subject.roles;
  return { typ: 'at+jwt', payload };
}

function rfc9068Delegated(
  shape: IssuerShape,
  subject: DelegatedSubject,
  base: TokenBase,
): ShapedToken {
  // RFC 8693 §4.1: `act` names the current actor; an actor already in the subject token
  // becomes the nested (prior) actor.
  const act: Record<string, unknown> = { sub: subject.clientId };
  if (subject.subject.act !== undefined) act.act = subject.subject.act;
  const payload: Record<string, unknown> = {
    iss: shape.issuer,
    sub: subject.subject.sub,
    aud: base.aud,
    exp: base.exp,
    iat: base.iat,
    jti: base.jti,
    client_id: subject.clientId,
  };
  if (subject.subject.auth_time !== undefined) payload.auth_time = subject.subject.auth_time;
  if (subject.scopes.length > 0) payload.scope = subject.scopes.join(' ');
  payload.act = act;
  return { typ: 'at+jwt', payload };
}

/** The final header typ and payload of a token minted by `shape`'s issuer. */
export function shapeToken(
  shape: IssuerShape,
  subject: TokenSubject,
  base: TokenBase,
): ShapedToken {
  let shaped: ShapedToken;
  switch (shape.profile) {
    case 'okta':
    case 'okta-org':
      shaped = okta(shape, subject, base);
      break;
    case 'entra-v2':
    case 'entra-v1':
      shaped = entra(shape, subject, base);
      break;
    case 'oidc':
      shaped = rfc9068(shape, subject, base);
      break;
  }
  if (subject.kind === 'user' && subject.extraClaims !== undefined) {
    for (const [name, value] of Object.entries(subject.extraClaims)) {
      if (value === null) delete shaped.payload[name];
      else shaped.payload[name] = value;
    }
  }
  return shaped;
}
