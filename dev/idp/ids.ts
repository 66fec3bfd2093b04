// Stable identifiers for the dev IdP: the same user, group or client name always maps to the
// same Okta user id, Entra object id or pairwise subject, so tests and policies can predict them.
import { createHash } from 'node:crypto';

function digest(...parts: string[]): Buffer {
  return createHash('sha256').update(parts.join('\u0000')).digest();
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** An Okta-style user id (`00u` + 17 alphanumerics) derived from the login. */
export function oktaUserId(user: string): string {
  const bytes = digest('okta-uid', user);
  let id = '00u';
  for (let i = 0; i < 17; i++) id += ALNUM[(bytes[i] ?? 0) % ALNUM.length];
  return id;
}

/** A GUID (RFC 9562 layout, version 8 "custom") derived from the given parts. */
function guid(...parts: string[]): string {
  const b = digest(...parts).subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x80;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The Entra object id (`oid`) of a user in a tenant. */
export function entraUserObjectId(tenant: string, user: string): string {
  return guid('entra-user', tenant.toLowerCase(), user);
}

/** The Entra object id of a group (what the `groups` claim carries) in a tenant. */
export function entraGroupId(tenant: string, group: string): string {
  return guid('entra-group', tenant.toLowerCase(), group);
}

/** The object id of the service principal of an application (client id) in a tenant. */
export function entraServicePrincipalId(tenant: string, clientId: string): string {
  return guid('entra-sp', tenant.toLowerCase(), clientId);
}

/** Entra's `sub` for a user: pairwise, i.e. different for every application (client id). */
export function entraPairwiseSub(tenant: string, clientId: string, oid: string): string {
  return digest('entra-sub', tenant.toLowerCase(), clientId, oid)
    .toString('base64url')
    .slice(0, 43);
}
