// The bench's identity provider: an RSA key made per run, its JWKS served on loopback, and
// access tokens signed with it, as an OIDC issuer would issue them (typ at+jwt, an
// audience, a user subject, groups). The gateway fetches the JWKS once and verifies every
// request's token against it, as in production.
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export async function startIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = 'bench-key-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const server = createServer((req, res) => {
    if (req.url === '/jwks.json') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const issuer = `${base}/issuer`;
  return {
    issuer,
    jwksUri: `${base}/jwks.json`,
    /** A user access token for `audience` (the gateway's resource URI). */
    mint({ audience, subject = 'bench-user', groups = ['engineering'], ttlS = 3600 }) {
      return new SignJWT({ client_id: 'bench-agent', groups })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
        .setIssuer(issuer)
        .setSubject(subject)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(`${ttlS}s`)
        .sign(privateKey);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
