// QUICKSTART ONLY. A development token issuer: a local ES256 key, its JWKS served by the
// gateway at /dev-issuer/jwks.json, and `mcpgate dev-token` to mint tokens for demo users.
// Tokens it mints go through the same verifier as any IdP's (issuer + JWKS + audience).
// Production deployments configure auth.issuers and leave auth.dev_issuer disabled.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { IssuerConfig } from '../config/load.js';

export const DEV_ISSUER_PATH = '/dev-issuer';
export const DEV_JWKS_PATH = `${DEV_ISSUER_PATH}/jwks.json`;

interface KeyFile {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function loadOrCreateDevKey(keyFile: string): Promise<KeyFile> {
  if (existsSync(keyFile)) {
    return JSON.parse(readFileSync(keyFile, 'utf8')) as KeyFile;
  }
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `dev-${Date.now().toString(36)}`;
  const key: KeyFile = {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
  };
  mkdirSync(dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, JSON.stringify(key, null, 2), { mode: 0o600 });
  return key;
}

export function devIssuerUrl(baseUrl: string): string {
  return `${baseUrl}${DEV_ISSUER_PATH}`;
}

export function devIssuerConfig(baseUrl: string, resourceUri: string): IssuerConfig {
  return {
    profile: 'oidc',
    label: devIssuerUrl(baseUrl),
    issuer: devIssuerUrl(baseUrl),
    discoveryIssuer: undefined,
    jwksUri: `${baseUrl}${DEV_JWKS_PATH}`,
    algorithms: ['ES256'],
    audiences: [resourceUri],
    groupsClaim: 'groups',
    requireAtJwt: true,
    jwksCooldownMs: 30_000,
    jwksMaxAgeMs: 600_000,
    allowAppTokens: false,
    allowInsecureHttp: true,
  };
}

export interface DevTokenRequest {
  user: string;
  groups: string[];
  roles: string[];
  scopes: string[];
  clientId: string;
  ttlSeconds: number;
  audience: string;
}

export async function mintDevToken(
  key: KeyFile,
  issuer: string,
  req: DevTokenRequest,
): Promise<string> {
  const signingKey = await importJWK(key.privateJwk, 'ES256');
  return new SignJWT({
    groups: req.groups,
    roles: req.roles,
    scope: req.scopes.join(' '),
    client_id: req.clientId,
  })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
    .setIssuer(issuer)
    .setSubject(req.user)
    .setAudience(req.audience)
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime(`${req.ttlSeconds}s`)
    .sign(signingKey);
}
