// What the gateway keeps of a token endpoint's answer. The IdP is trusted to issue tokens,
// not to write text: an error body may echo the request (the gateway's client secret, the
// user's token), so only known OAuth error codes and a scrubbed, bounded description go on
// to the client and the logs; an issued token must be sendable in an Authorization header;
// and how long it is used is bounded by configuration, whatever `expires_in` claims.

/** Error codes of RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 9449, OIDC Core §3.1.2.6 and Entra. */
const KNOWN_ERRORS: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_resource',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'interaction_required',
  'login_required',
  'consent_required',
  'account_selection_required',
  'access_denied',
  'expired_token',
  'server_error',
  'temporarily_unavailable',
]);

/** Entra's `suberror` values (MSAL's list). */
const KNOWN_SUBERRORS: ReadonlySet<string> = new Set([
  'consent_required',
  'basic_action',
  'additional_action',
  'message_only',
  'bad_token',
  'token_expired',
  'user_password_expired',
  'client_mismatch',
  'device_authentication_failed',
]);

/** The longest IdP description passed on, in characters. */
export const MAX_DESCRIPTION_CHARS = 200;
/** The longest claims challenge passed on to the client. */
const MAX_CLAIMS_CHARS = 2048;
/** RFC 6750 b64token; anything else could split or smuggle an HTTP header. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** The largest access token sent upstream (Entra's largest tokens are a few KB). */
const MAX_ACCESS_TOKEN_CHARS = 16 * 1024;
/** Lifetime assumed when the IdP's answer has no expires_in (RFC 6749 makes it optional). */
const DEFAULT_EXPIRES_IN_S = 300;

const REDACTED = '[redacted]';
/** Anything shaped like a JWS or JWE compact serialisation. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*/g;
/** Long runs of token characters: a secret or token in some encoding. GUIDs are kept. */
const TOKEN_RUN = /[A-Za-z0-9_~+/=%-]{24,}/g;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Control, format and separator characters other than the plain space. */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/gu;

/** An OAuth error code the client and logs may see, or undefined for any other text. */
export function knownError(value: unknown): string | undefined {
  return typeof value === 'string' && KNOWN_ERRORS.has(value) ? value : undefined;
}

export function knownSuberror(value: unknown): string | undefined {
  return typeof value === 'string' && KNOWN_SUBERRORS.has(value) ? value : undefined;
}

/** Every form in which `secret` may come back in an echo of the request. */
function forms(secret: string): string[] {
  const form = new URLSearchParams({ v: secret }).toString().slice(2);
  return [...new Set([secret, encodeURIComponent(secret), form])];
}

/**
 * The text without the given secrets (as sent, URL- or form-encoded), without anything
 * token-shaped, on one line of printable characters, at most `max` characters; undefined
 * when nothing is left.
 */
export function scrub(
  text: unknown,
  secrets: readonly string[],
  max = MAX_DESCRIPTION_CHARS,
): string | undefined {
  if (typeof text !== 'string') return undefined;
  let out = text;
  for (const secret of secrets) {
    // A very short secret would match ordinary words; the run rule below covers real ones.
    if (secret.length < 8) continue;
    for (const form of forms(secret)) out = out.split(form).join(REDACTED);
  }
  out = out
    .replace(JWT_LIKE, REDACTED)
    .replace(TOKEN_RUN, (run) => (GUID.test(run) ? run : REDACTED))
    .replace(UNPRINTABLE, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (out === '') return undefined;
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

/**
 * Entra's claims challenge, for the client to pass to its next sign-in: a JSON object of
 * bounded size that holds none of the secrets and nothing token-shaped; else undefined.
 */
export function claimsChallenge(value: unknown, secrets: readonly string[]): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_CLAIMS_CHARS) return undefined;
  if (secrets.some((s) => s.length >= 8 && forms(s).some((f) => value.includes(f)))) {
    return undefined;
  }
  JWT_LIKE.lastIndex = 0;
  if (JWT_LIKE.test(value)) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  } catch {
    return undefined;
  }
  return value;
}

/** Why an issued access token cannot be used, or undefined when it can. */
export function unusableToken(token: unknown): string | undefined {
  if (typeof token !== 'string' || token === '') return 'it is empty';
  if (token.length > MAX_ACCESS_TOKEN_CHARS)
    return `it is over ${MAX_ACCESS_TOKEN_CHARS} characters`;
  if (!B64TOKEN.test(token)) {
    return 'it has characters an Authorization header cannot carry (RFC 6750 allows letters, digits, - . _ ~ + / and a trailing =)';
  }
  return undefined;
}

/**
 * How long an issued token is used, in ms: `expires_in` (300 s when absent), at most
 * `maxMs`; 0 for a value that is not a positive finite number (used for its call only).
 */
export function usableLifetimeMs(expiresIn: unknown, maxMs: number): number {
  const seconds = expiresIn === undefined ? DEFAULT_EXPIRES_IN_S : expiresIn;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.min(seconds * 1000, maxMs);
}
