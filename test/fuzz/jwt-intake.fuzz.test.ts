// Fuzzing the JWT intake: valid access tokens of two trusted issuers (RS256 and ES256, keys
// served as JWKS on loopback, the oidc profile requiring typ at+jwt) mutated and handed to
// the real TokenVerifier.
//
// 1. Without the issuer's key (an attacker's position): characters of the compact token
//    changed, added or dropped; header or payload JSON changed and re-encoded (alg none,
//    HS256, other algorithms, kid, jwk, jku, x5u, crit, b64, claims added, dropped or
//    changed, other base64 alphabets, padding) with the original signature, no signature,
//    an attacker's ES256 signature under the issuer's kid, or HS256 keyed with the issuer's
//    public key. Never accepted unless the header, payload and signature it decodes to are
//    the original's bytes; every refusal an AuthError.
// 2. With the issuer's key (what the IdP could sign): a claim set made invalid by one change
//    (issuer, audience, expiry, not-before, issue time, typ, subject, algorithm) is refused;
//    a neutral change (an unknown claim, the order of claims, groups) is accepted with the
//    identity its claims give.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  base64url,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type JWK,
  type JWTPayload,
} from 'jose';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/load.js';
import { AuthError, TokenVerifier } from '../../src/identity/verifier.js';
import { silentLogger } from '../../src/util/logger.js';
import { json, startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { anyText } from './support/gateway.js';
import { checkProperty, timeoutFor } from './support/property.js';

const RUNS = 10_000;
const RESOURCE = 'https://gw.example.com/mcp';

interface Issuer {
  iss: string;
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

let server: LoopbackServer;
let issuers: Issuer[];
let attacker: CryptoKey;
let verifier: TokenVerifier;

async function newIssuer(name: string, alg: 'RS256' | 'ES256'): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${name}-key`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  server.routes.set(`/${name}/jwks`, json({ keys: [publicJwk] }));
  return {
    iss: `https://${name}.example.com`,
    kid,
    alg,
    privateKey,
    publicJwk,
    publicPem: await exportSPKI(publicKey),
  };
}

beforeAll(async () => {
  server = await startLoopbackServer();
  issuers = [await newIssuer('rsa-idp', 'RS256'), await newIssuer('ec-idp', 'ES256')];
  attacker = (await generateKeyPair('ES256')).privateKey;
  const config = parseConfig(
    {
      auth: {
        issuers: issuers.map((issuer) => ({
          profile: 'oidc',
          issuer: issuer.iss,
          jwks_uri: `${server.base}/${issuer.iss.slice(8, -12)}/jwks`,
          allow_insecure_http: true,
          algorithms: [issuer.alg],
        })),
      },
      policy: { bundle: 'bundle.tar.gz' },
      upstreams: { fs: { transport: 'stdio', command: 'node' } },
    },
    '/srv/mcpgate',
  );
  verifier = new TokenVerifier(config.auth.issuers, RESOURCE, 30, silentLogger);
  await verifier.warmUp();
  expect(verifier.isReady()).toBe(true);
});

afterAll(async () => {
  verifier?.stop();
  await server?.close();
});

const now = (): number => Math.floor(Date.now() / 1000);

function claimsOf(issuer: Issuer): JWTPayload {
  return {
    iss: issuer.iss,
    sub: 'alice',
    aud: RESOURCE,
    client_id: 'agent',
    groups: ['engineering'],
    iat: now(),
    exp: now() + 600,
  };
}

function sign(
  claims: JWTPayload,
  header: Record<string, unknown>,
  key: CryptoKey | Uint8Array,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

function issuerToken(issuer: Issuer, claims = claimsOf(issuer)): Promise<string> {
  return sign(claims, { alg: issuer.alg, kid: issuer.kid, typ: 'at+jwt' }, issuer.privateKey);
}

/** The verifier's answer: the identity's subject and groups, or the refusal's message. */
async function verdict(token: string): Promise<{ accepted: boolean; detail: string }> {
  try {
    const identity = await verifier.verify(token);
    return { accepted: true, detail: `${identity.subject} ${identity.groups.join(',')}` };
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    expect(err.message).not.toBe('');
    return { accepted: false, detail: err.message };
  }
}

/** The bytes each of the three segments decodes to, as hex ('?' when one does not decode). */
function decoded(token: string): string[] {
  const parts = token.split('.');
  if (parts.length !== 3) return ['?'];
  return parts.map((part) => {
    try {
      return Buffer.from(base64url.decode(part)).toString('hex');
    } catch {
      return '?';
    }
  });
}

// ---------------------------------------------------------------------------------------
// 1. Mutations without the key.

type Segments = { header: Record<string, unknown>; payload: Record<string, unknown> };

const jsonChange: fc.Arbitrary<(s: Segments) => void> = fc.oneof(
  fc
    .constantFrom('none', 'None', 'NONE', 'HS256', 'RS256', 'ES256', 'RS384', 'PS256', 'EdDSA', '')
    .map((alg) => (s: Segments) => void (s.header.alg = alg)),
  fc
    .oneof(fc.constantFrom('rsa-idp-key', 'ec-idp-key', '', '../rsa-idp-key'), anyText(12))
    .map((kid) => (s: Segments) => void (s.header.kid = kid)),
  fc
    .constantFrom('jwk', 'jku', 'x5u', 'x5c', 'crit', 'b64', 'zip', 'cty')
    .map((name) => (s: Segments) => {
      s.header[name] =
        name === 'crit' ? ['exp'] : name === 'b64' ? false : `https://attacker.example/${name}`;
    }),
  fc
    .constantFrom('typ')
    .chain(() => fc.constantFrom('JWT', 'at+JWT', 'application/at+jwt', '', undefined))
    .map((typ) => (s: Segments) => void (s.header.typ = typ)),
  fc
    .tuple(
      fc.constantFrom('iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'groups', 'client_id', 'scope'),
      fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant(undefined)),
    )
    .map(
      ([name, value]) =>
        (s: Segments) =>
          void (s.payload[name] = value),
    ),
  fc.tuple(anyText(8), fc.jsonValue({ maxDepth: 1 })).map(
    ([name, value]) =>
      (s: Segments) =>
        void (s.payload[name] = value),
  ),
);

/** How the changed segments are written back: alphabet and padding. */
const encoding = fc.constantFrom('base64url', 'base64', 'base64url=');

function encode(value: unknown, how: string): string {
  const bytes = Buffer.from(JSON.stringify(value));
  if (how === 'base64') return bytes.toString('base64');
  // base64url with its padding kept, which JWS forbids.
  if (how === 'base64url=') return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
  return bytes.toString('base64url');
}

type Signature = 'original' | 'none' | 'attacker' | 'hs256-pem' | 'hs256-jwk' | 'truncated';

async function signatureFor(
  how: Signature,
  issuer: Issuer,
  signingInput: string,
  original: string,
): Promise<string> {
  const data = new TextEncoder().encode(signingInput);
  switch (how) {
    case 'original':
      return original;
    case 'none':
      return '';
    case 'truncated':
      return original.slice(0, original.length >> 1);
    case 'attacker': {
      const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, attacker, data);
      return Buffer.from(sig).toString('base64url');
    }
    case 'hs256-pem':
    case 'hs256-jwk': {
      const secret = how === 'hs256-pem' ? issuer.publicPem : JSON.stringify(issuer.publicJwk);
      const key = await crypto.subtle.importKey(
        'raw',
        new TextEncoder().encode(secret),
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['sign'],
      );
      return Buffer.from(await crypto.subtle.sign('HMAC', key, data)).toString('base64url');
    }
  }
}

const textChange = fc.tuple(
  fc.constantFrom('replace', 'insert', 'drop'),
  fc.nat(),
  fc.oneof(
    fc.constantFrom('.', '=', '+', '/', '-', '_', ' ', 'A', 'a', '0'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
);

function changeText(token: string, [how, at, c]: [string, number, string]): string {
  const i = at % (token.length + 1);
  if (how === 'insert') return token.slice(0, i) + c + token.slice(i);
  if (how === 'drop') return token.slice(0, i) + token.slice(i + 1);
  return token.slice(0, i) + c + token.slice(i + 1);
}

const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('text' as const),
    changes: fc.array(textChange, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant('json' as const),
    changes: fc.array(jsonChange, { maxLength: 3 }),
    header: encoding,
    payload: encoding,
    signature: fc.constantFrom<Signature>(
      'original',
      'none',
      'attacker',
      'hs256-pem',
      'hs256-jwk',
      'truncated',
    ),
  }),
);

// ---------------------------------------------------------------------------------------
// 2. Claim changes the issuer signs.

/** Changes that make a token invalid by the verifier's rules; the reason is for the reader. */
const invalidating: Array<
  [string, (c: JWTPayload, h: Record<string, unknown>, i: Issuer) => void]
> = [
  ['another issuer', (c, _h, i) => void (c.iss = `${i.iss}/`)],
  ['an untrusted issuer', (c) => void (c.iss = 'https://evil.example.com')],
  ['issuer in other case', (c, _h, i) => void (c.iss = i.iss.toUpperCase())],
  ['another audience', (c) => void (c.aud = 'https://other.example.com/mcp')],
  ['audience with a slash', (c) => void (c.aud = `${RESOURCE}/`)],
  ['audience list without this gateway', (c) => void (c.aud = ['a', 'b'])],
  ['no audience', (c) => void delete c.aud],
  ['expired', (c) => void (c.exp = now() - 120)],
  ['exp as a string', (c) => void (c.exp = String(now() + 600) as unknown as number)],
  ['no exp', (c) => void delete c.exp],
  ['not valid yet', (c) => void (c.nbf = now() + 600)],
  ['issued in the future', (c) => void (c.iat = now() + 600)],
  ['no iat', (c) => void delete c.iat],
  ['typ JWT', (_c, h) => void (h.typ = 'JWT')],
  ['no typ', (_c, h) => void delete h.typ],
  ['empty subject', (c) => void (c.sub = '')],
  ['blank subject', (c) => void (c.sub = '   ')],
  ['no subject', (c) => void delete c.sub],
  ['app token (sub = client_id)', (c) => void (c.sub = 'agent')],
];

const neutral: Array<(c: JWTPayload) => void> = [
  (c) => void (c.extra = 'value'),
  (c) => void (c.groups = ['engineering', 'other']),
  (c) => void (c.aud = [RESOURCE, 'https://other.example.com']),
  (c) => void (c.exp = now() + 86_400),
  (c) => void (c.nbf = now() - 10),
];

describe('the JWT intake', () => {
  it(
    'accepts a mutated token only when it decodes to the original bytes',
    async () => {
      const originals = await Promise.all(issuers.map((issuer) => issuerToken(issuer)));
      for (const token of originals) expect((await verdict(token)).accepted).toBe(true);
      await checkProperty(
        'jwt-mutations',
        fc.asyncProperty(fc.nat({ max: issuers.length - 1 }), mutation, async (which, m) => {
          const issuer = issuers[which]!;
          const original = originals[which]!;
          let token: string;
          if (m.kind === 'text') {
            token = m.changes.reduce(changeText, original);
          } else {
            const [h, p, s] = original.split('.') as [string, string, string];
            const segments: Segments = {
              header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
              payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<
                string,
                unknown
              >,
            };
            for (const change of m.changes) change(segments);
            const input = `${encode(segments.header, m.header)}.${encode(segments.payload, m.payload)}`;
            token = `${input}.${await signatureFor(m.signature, issuer, input, s)}`;
          }
          const { accepted, detail } = await verdict(token);
          if (accepted && decoded(token).join('.') !== decoded(original).join('.')) {
            throw new Error(`accepted a changed token (${detail}): ${token}`);
          }
        }),
        RUNS,
      );
    },
    timeoutFor(RUNS, 60_000),
  );

  it(
    'refuses what the issuer signed with an invalid claim, accepts neutral changes',
    async () => {
      const ec = issuers.find((issuer) => issuer.alg === 'ES256')!;
      await checkProperty(
        'jwt-signed-claims',
        fc.asyncProperty(
          fc.option(fc.nat({ max: invalidating.length - 1 }), { nil: undefined }),
          fc.subarray(neutral),
          async (invalid, changes) => {
            const claims = claimsOf(ec);
            const header: Record<string, unknown> = { alg: ec.alg, kid: ec.kid, typ: 'at+jwt' };
            for (const change of changes) change(claims);
            if (invalid !== undefined) invalidating[invalid]![1](claims, header, ec);
            const { accepted, detail } = await verdict(await sign(claims, header, ec.privateKey));
            if (invalid !== undefined && accepted) {
              throw new Error(`accepted a token with ${invalidating[invalid]![0]}`);
            }
            if (invalid === undefined) {
              expect(accepted).toBe(true);
              expect(detail).toBe(`alice ${(claims.groups as string[]).join(',')}`);
            }
          },
        ),
        RUNS,
      );
    },
    timeoutFor(RUNS, 60_000),
  );
});
