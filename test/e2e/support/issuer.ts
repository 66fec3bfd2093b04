// A real token issuer for tests: an RSA key generated per run, its JWKS served over HTTP on
// loopback, and tokens signed with it (plus deliberately broken ones for the attack cases).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  mint(
    claims?: JWTPayload & { aud?: string | string[] },
    options?: { expiresIn?: string | number; alg?: string },
  ): Promise<string>;
  close(): Promise<void>;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An unsigned token (`alg: none`), which no verifier may accept. */
export function unsignedToken(payload: JWTPayload): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}

export async function startIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = 'test-key-1';
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks.json') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/issuer`;
  return {
    issuer,
    jwksUri: `${base}/jwks.json`,
    async mint(claims = {}, options = {}) {
      const { aud, ...rest } = claims;
      const jwt = new SignJWT({ client_id: 'e2e-agent', ...rest })
        .setProtectedHeader({ alg: options.alg ?? 'RS256', kid, typ: 'at+jwt' })
        .setIssuer(typeof rest.iss === 'string' ? rest.iss : issuer)
        .setSubject(typeof rest.sub === 'string' ? rest.sub : 'alice')
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '10m');
      if (aud !== undefined) jwt.setAudience(aud);
      return jwt.sign(privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
