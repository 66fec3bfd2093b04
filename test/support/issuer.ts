// Token issuers for tests (and the bench, which imports the compiled file): RSA keys made
// per run, their JWKS served on a loopback server, tokens signed with jose, and the
// deliberately broken tokens of the attack cases. startIssuer() is a whole issuer the
// gateway can trust as an `oidc` entry; the key and signing functions are for the tests
// that serve several keys on routes they change (keys, verifier) or forge attacker tokens.
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';
import { json, startLoopbackServer, type LoopbackServer } from './loopback-server.js';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public key as an issuer publishes it: kid, alg RS256, use sig. */
  jwk: JWK;
}

/** An RS256 key pair. Extractable, for the attacks that reuse the issuer's key material. */
export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, jwk };
}

/** A JWKS document publishing the keys' public halves. */
export function jwks(...keys: SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => key.jwk) };
}

function sign(
  claims: JWTPayload,
  header: JWTHeaderParameters,
  key: CryptoKey | Uint8Array,
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader(header);
  if (!('iat' in claims)) jwt.setIssuedAt();
  if (!('exp' in claims)) jwt.setExpirationTime('10m');
  return jwt.sign(key);
}

/**
 * A token signed with the key, RS256 under its kid unless the header says otherwise. `iat`
 * (now) and `exp` (ten minutes on) are added unless the claims name them: name one as
 * undefined to leave it out of the token.
 */
export function signToken(
  key: Pick<SigningKey, 'kid' | 'privateKey'>,
  claims: JWTPayload,
  header: Partial<JWTHeaderParameters> = {},
): Promise<string> {
  return sign(claims, { alg: 'RS256', kid: key.kid, ...header }, key.privateKey);
}

/**
 * An HS256 token with the secret as its key: the algorithm-confusion attack (the secret is
 * often the issuer's public key, which anyone can fetch). `iat` and `exp` as signToken.
 */
export function hs256Token(
  secret: string | Uint8Array,
  claims: JWTPayload,
  header: Partial<JWTHeaderParameters> = {},
): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  return sign(claims, { ...header, alg: 'HS256' }, key);
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An unsigned token (`alg: none` unless the header says another), which no verifier may accept. */
export function unsignedToken(
  payload: JWTPayload,
  header: Record<string, unknown> = { alg: 'none', typ: 'JWT' },
): string {
  return `${b64url(header)}.${b64url(payload)}.`;
}

export interface TestIssuer {
  /** The `iss` of its tokens: `{base}/issuer`. */
  issuer: string;
  /** `{base}/jwks.json`, publishing `key`. */
  jwksUri: string;
  key: SigningKey;
  /** The server behind jwksUri: its requests show whether anyone fetched the keys. */
  server: LoopbackServer;
  /**
   * An RFC 9068 access token (typ at+jwt) from this issuer: sub `alice`, client_id
   * `e2e-agent`, no audience, valid ten minutes, each overridden by the claims given.
   */
  mint(claims?: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

export async function startIssuer(options: { kid?: string } = {}): Promise<TestIssuer> {
  const key = await newSigningKey(options.kid ?? 'test-key-1');
  const server = await startLoopbackServer();
  server.routes.set('/jwks.json', json(jwks(key)));
  const issuer = `${server.base}/issuer`;
  return {
    issuer,
    jwksUri: `${server.base}/jwks.json`,
    key,
    server,
    mint: (claims = {}) =>
      signToken(
        key,
        { client_id: 'e2e-agent', iss: issuer, sub: 'alice', ...claims },
        {
          typ: 'at+jwt',
        },
      ),
    close: () => server.close(),
  };
}
