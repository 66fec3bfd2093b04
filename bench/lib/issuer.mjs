// The bench's identity provider is the tests' issuer (test/support/issuer.ts, compiled by
// `npm run build`, which `npm run bench` runs first): an RSA key made per run, its JWKS
// served on loopback, and access tokens signed with it as an OIDC issuer would issue them
// (typ at+jwt, an audience, a user subject, groups). The gateway fetches the JWKS once and
// verifies every request's token against it, as in production.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './servers.mjs';

const TEST_ISSUER = join(ROOT, 'dist/test/support/issuer.js');

export async function startIssuer() {
  if (!existsSync(TEST_ISSUER)) {
    throw new Error(`${TEST_ISSUER} is missing: run \`npm run build\` first`);
  }
  const shared = await import(pathToFileURL(TEST_ISSUER).href);
  const issuer = await shared.startIssuer({ kid: 'bench-key-1' });
  return {
    ...issuer,
    /** A user access token for `audience` (the gateway's resource URI). */
    mint: ({ audience, subject = 'bench-user', groups = ['engineering'], ttlS = 3600 }) =>
      issuer.mint({
        aud: audience,
        sub: subject,
        client_id: 'bench-agent',
        groups,
        exp: Math.floor(Date.now() / 1000) + ttlS,
      }),
  };
}
