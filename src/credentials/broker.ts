// The credential broker: the only place upstream credentials exist. For a call it returns
// the credential that call runs with — a static secret read now (rotation needs no restart),
// or a token exchanged at the IdP for this user, this upstream and the scopes the policy
// decided. Exchanged tokens are kept in this process's memory only, per (session, upstream,
// audience, scopes, subject token): a request with another token of the same user (another
// client, weaker authentication) never gets a token the IdP issued for a different one.
// Concurrent misses of one key share one exchange; a token is used until just before the
// IdP's expiry (capped by configuration), never past its session's end, and dropped with the
// session. A user's token goes only to its own issuer's token endpoint (or one configured to
// trust that issuer). Failure is a CredentialError with a reason for the user, built only
// from known OAuth error codes and scrubbed IdP text: never a fallback.
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { importPKCS8 } from 'jose';
import type { CredentialConfig } from '../config/credentials.js';
import { readValue, SecretError } from '../config/secrets.js';
import { McpgateError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import {
  claimsChallenge,
  knownError,
  knownSuberror,
  scrub,
  unusableToken,
  usableLifetimeMs,
} from './idp-answer.js';

type UserCredentialConfig = Extract<CredentialConfig, { audience: string }>;

/** The policy's credential obligation: which audience and scopes this call's token gets. */
export interface CredentialObligation {
  audience?: string;
  scopes?: string[];
}

export interface CredentialFacts {
  kind: CredentialConfig['type'];
  audience?: string;
  scopes?: string[];
  /** Who the upstream call acts for: the user, the agent (client), and the gateway. */
  actor_chain?: { user: string; client: string; gateway: string };
}

/** Headers the upstream request carries (HTTP), or environment for a stdio child. */
export interface Credential {
  headers: Record<string, string>;
  facts: CredentialFacts;
  /** Epoch ms after which the headers must not be sent again (obtained tokens only). */
  expiresAt?: number;
}

export class CredentialError extends McpgateError {
  static override readonly code = 'ERR_CREDENTIAL_UNAVAILABLE';

  constructor(
    message: string,
    /** Entra interaction_required: the claims challenge the client must satisfy (step-up). */
    readonly claimsChallenge?: string,
  ) {
    super(message);
  }
}

export interface CallIdentity {
  sessionId: string;
  /** Epoch ms when the session's lifetime ends (null: no lifetime): nothing is used past it. */
  sessionExpiresAt: number | null;
  /** The user's own access token: the subject of the exchange. Never stored or logged. */
  subjectToken: string;
  /** The verified `iss` of subjectToken: only that issuer's token endpoint may receive it. */
  issuer: string;
  subject: string;
  clientId: string;
  tokenType: 'user' | 'app';
}

interface Cached {
  token: string;
  /** Epoch ms: the IdP's expiry, capped by max_token_lifetime_s and the session's end. */
  expiresAt: number;
}

/** The tokens one session holds here; `released` once the session was let go. */
interface SessionTokens {
  keys: Set<string>;
  released: boolean;
}

const SUBJECT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/**
 * How long a terminated session is remembered, so that a request that loaded it just before
 * it ended cannot obtain (or cache) a token for it. Session ids are never reused.
 */
const ENDED_MEMORY_MS = 10 * 60_000;
const ENDED_MEMORY_ENTRIES = 100_000;

const sameIssuer = (a: string, b: string): boolean => a.replace(/\/$/, '') === b.replace(/\/$/, '');

function endedError(upstream: string): CredentialError {
  return new CredentialError(
    `this session has ended, so no credential for upstream ${upstream} is obtained for it; initialize a new session`,
  );
}

export class CredentialBroker {
  private readonly cache = new Map<string, Cached>();
  private readonly sessions = new Map<string, SessionTokens>();
  /** Exchanges under way, by cache key: concurrent misses share one. */
  private readonly inflight = new Map<string, Promise<Cached>>();
  /** Terminated sessions (id → when), oldest first. */
  private readonly ended = new Map<string, number>();
  private readonly clients = new Map<string, Promise<oidc.Configuration>>();

  constructor(
    private readonly gatewayId: string,
    private readonly logger: Logger,
  ) {}

  async forCall(
    upstream: string,
    config: CredentialConfig,
    who: CallIdentity,
    obligation: CredentialObligation | undefined,
  ): Promise<Credential> {
    switch (config.type) {
      case 'none':
        return { headers: {}, facts: { kind: 'none' } };
      case 'static-secret': {
        if (obligation !== undefined) {
          throw new CredentialError(
            `the policy asks for a scoped credential, but upstream ${upstream} takes a static secret that cannot be scoped per call`,
          );
        }
        let secret: string;
        try {
          secret = readValue(config.value, `upstreams.${upstream}.credential.value`);
        } catch (err) {
          this.logger.error('static secret unreadable', {
            upstream,
            error: err instanceof Error ? err.message : String(err),
          });
          throw new CredentialError(
            `the secret for upstream ${upstream} cannot be read (see the gateway log)`,
          );
        }
        return {
          headers: { [config.header]: config.format.replace('{secret}', () => secret) },
          facts: { kind: 'static-secret' },
        };
      }
      case 'token-exchange':
      case 'entra-obo':
        return this.exchanged(upstream, config, who, obligation);
    }
  }

  private async exchanged(
    upstream: string,
    config: UserCredentialConfig,
    who: CallIdentity,
    obligation: CredentialObligation | undefined,
  ): Promise<Credential> {
    if (who.tokenType !== 'user') {
      throw new CredentialError(
        `upstream ${upstream} runs on behalf of a user; app-only tokens cannot be exchanged`,
      );
    }
    const audience = obligation?.audience ?? config.audience;
    if (audience !== config.audience) {
      throw new CredentialError(
        `the policy asked for a credential for ${audience}, but upstream ${upstream} is configured for ${config.audience}`,
      );
    }
    if (this.hasEnded(who)) throw endedError(upstream);
    if (!config.subjectIssuers.some((trusted) => sameIssuer(trusted, who.issuer))) {
      // Sending it would disclose a bearer token valid at this gateway to another server.
      throw new CredentialError(
        `upstream ${upstream} obtains its tokens from ${config.subjectIssuers[0] ?? 'another IdP'}, which does not trust your token's issuer ${who.issuer}; a token is sent only to its own issuer unless upstreams.${upstream}.credential.subject_issuers names it`,
      );
    }
    const scopes = [...new Set(obligation?.scopes ?? config.defaultScopes)].sort();
    const facts: CredentialFacts = {
      kind: config.type,
      audience,
      scopes,
      actor_chain: { user: who.subject, client: who.clientId, gateway: this.gatewayId },
    };
    // The subject token's digest stands for everything the IdP decided on: the user, the
    // client it was issued to, acr/amr (MFA), its scopes and groups.
    const subjectDigest = createHash('sha256').update(who.subjectToken).digest('base64url');
    const key = [who.sessionId, upstream, audience, scopes.join(' '), subjectDigest].join('\u0000');
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt - config.refreshBeforeMs > Date.now()) {
      return this.issued(cached, facts);
    }
    const fresh = await this.singleFlight(key, () =>
      this.exchangeAndKeep(key, upstream, config, who, audience, scopes),
    );
    return this.issued(fresh, facts);
  }

  /** The request under way for `key`, else a new one: concurrent misses share one. */
  private singleFlight(key: string, start: () => Promise<Cached>): Promise<Cached> {
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = start();
      this.inflight.set(key, pending);
      const settled = (): void => void this.inflight.delete(key);
      pending.then(settled, settled);
    }
    return pending;
  }

  private issued(cached: Cached, facts: CredentialFacts): Credential {
    return {
      headers: { Authorization: `Bearer ${cached.token}` },
      facts,
      expiresAt: cached.expiresAt,
    };
  }

  /** One exchange; cached only if its session is still held here and alive when it ends. */
  private async exchangeAndKeep(
    key: string,
    upstream: string,
    config: UserCredentialConfig,
    who: CallIdentity,
    audience: string,
    scopes: string[],
  ): Promise<Cached> {
    let tokens = this.sessions.get(who.sessionId);
    if (!tokens) {
      tokens = { keys: new Set(), released: false };
      this.sessions.set(who.sessionId, tokens);
    }
    const fresh = await this.exchange(upstream, config, who.subjectToken, audience, scopes);
    // The session may have ended while the IdP answered.
    if (this.hasEnded(who)) {
      this.logger.debug('obtained token discarded: its session ended meanwhile', {
        upstream,
        session: who.sessionId.slice(0, 8),
      });
      throw endedError(upstream);
    }
    if (who.sessionExpiresAt !== null) {
      fresh.expiresAt = Math.min(fresh.expiresAt, who.sessionExpiresAt);
    }
    if (!tokens.released && fresh.expiresAt > Date.now()) {
      for (const old of tokens.keys) {
        const entry = this.cache.get(old);
        if (!entry || entry.expiresAt <= Date.now()) {
          this.cache.delete(old);
          tokens.keys.delete(old);
        }
      }
      this.cache.set(key, fresh);
      tokens.keys.add(key);
    }
    return fresh;
  }

  /** Terminated (on any replica), or past the lifetime its policy gave it. */
  private hasEnded(who: CallIdentity): boolean {
    return (
      this.ended.has(who.sessionId) ||
      (who.sessionExpiresAt !== null && who.sessionExpiresAt <= Date.now())
    );
  }

  /**
   * Headers for an upstream's own requests outside any call: connecting and reading its
   * catalog. A static secret as configured; for per-user credentials a token the gateway
   * gets for itself (client credentials) that can list tools but acts for no user, so no
   * tool call ever runs with it (calls always carry the user's exchanged token).
   */
  async connectionHeaders(
    upstream: string,
    config: CredentialConfig,
  ): Promise<Record<string, string>> {
    switch (config.type) {
      case 'none':
        return {};
      case 'static-secret': {
        const secret = readValue(config.value, `upstreams.${upstream}.credential.value`);
        return { [config.header]: config.format.replace('{secret}', () => secret) };
      }
      case 'token-exchange':
      case 'entra-obo': {
        const key = `catalog\u0000${upstream}`;
        const cached = this.cache.get(key);
        if (cached && cached.expiresAt - config.refreshBeforeMs > Date.now()) {
          return { Authorization: `Bearer ${cached.token}` };
        }
        const fresh = await this.singleFlight(key, async () => {
          const token = await this.gatewayToken(upstream, config);
          this.cache.set(key, token);
          return token;
        });
        return { Authorization: `Bearer ${fresh.token}` };
      }
    }
  }

  /** The gateway's own token (client credentials) for connecting and listing. */
  private async gatewayToken(upstream: string, config: UserCredentialConfig): Promise<Cached> {
    const secrets = this.clientSecrets(config);
    let response: oidc.TokenEndpointResponse;
    try {
      const client = await this.client(config);
      response = await oidc.clientCredentialsGrant(
        client,
        config.type === 'token-exchange'
          ? { resource: config.audience }
          : { scope: `${config.audience.replace(/\/$/, '')}/.default` },
      );
    } catch (err) {
      throw this.describe(upstream, config, err, secrets);
    }
    return this.usable(upstream, config, response);
  }

  /**
   * Forgets every token of a session this process lets go (it ended, went idle here, or
   * the gateway is stopping). An exchange still under way for it is not cached.
   */
  dropSession(sessionId: string): void {
    const tokens = this.sessions.get(sessionId);
    if (!tokens) return;
    tokens.released = true;
    for (const key of tokens.keys) this.cache.delete(key);
    this.sessions.delete(sessionId);
  }

  /**
   * A session was terminated (on any replica): its tokens are dropped, and for a while no
   * token is obtained or cached for it, so a request that loaded it just before gets none.
   */
  sessionEnded(sessionId: string): void {
    const now = Date.now();
    this.ended.delete(sessionId);
    this.ended.set(sessionId, now);
    for (const [id, at] of this.ended) {
      if (at > now - ENDED_MEMORY_MS && this.ended.size <= ENDED_MEMORY_ENTRIES) break;
      this.ended.delete(id);
    }
    this.dropSession(sessionId);
  }

  private async exchange(
    upstream: string,
    config: UserCredentialConfig,
    subjectToken: string,
    audience: string,
    scopes: string[],
  ): Promise<Cached> {
    const secrets = [...this.clientSecrets(config), subjectToken];
    let response: oidc.TokenEndpointResponse;
    try {
      const client = await this.client(config);
      response =
        config.type === 'token-exchange'
          ? await oidc.genericGrantRequest(
              client,
              'urn:ietf:params:oauth:grant-type:token-exchange',
              {
                subject_token: subjectToken,
                subject_token_type: SUBJECT_TOKEN_TYPE,
                audience,
                ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
              },
            )
          : await oidc.genericGrantRequest(client, 'urn:ietf:params:oauth:grant-type:jwt-bearer', {
              assertion: subjectToken,
              requested_token_use: 'on_behalf_of',
              scope: (scopes.length > 0 ? scopes : ['.default'])
                .map((s) => `${audience.replace(/\/$/, '')}/${s}`)
                .join(' '),
            });
    } catch (err) {
      throw this.describe(upstream, config, err, secrets);
    }
    return this.usable(upstream, config, response);
  }

  /** The issued token, if it can be sent, with how long it may be used. */
  private usable(
    upstream: string,
    config: UserCredentialConfig,
    response: oidc.TokenEndpointResponse,
  ): Cached {
    const why = unusableToken(response.access_token);
    if (why !== undefined) {
      this.logger.warn('IdP issued an unusable token', { upstream, type: config.type, why });
      throw new CredentialError(
        `the IdP issued a token for upstream ${upstream} that cannot be used: ${why}; nothing was sent or kept`,
      );
    }
    const lifetime = usableLifetimeMs(response.expires_in, config.maxTokenLifetimeMs);
    return { token: response.access_token, expiresAt: Date.now() + lifetime };
  }

  /** What the gateway sends that an IdP must never get to show: its client secret. */
  private clientSecrets(config: UserCredentialConfig): string[] {
    if (config.clientAuth.kind !== 'secret') return [];
    try {
      return [readValue(config.clientAuth.secret, 'credential.client_secret')];
    } catch {
      return []; // unreadable: the exchange fails on it and says so
    }
  }

  private describe(
    upstream: string,
    config: UserCredentialConfig,
    err: unknown,
    secrets: readonly string[],
  ): CredentialError {
    if (err instanceof SecretError) {
      this.logger.error('gateway client credentials unreadable', { upstream, error: err.message });
      return new CredentialError(
        `the gateway's own client credentials for upstream ${upstream} cannot be read (see the gateway log)`,
      );
    }
    const what = `the IdP refused to issue a credential for upstream ${upstream} (${config.type})`;
    if (err instanceof oidc.ResponseBodyError) {
      // Only known codes and scrubbed text: the body may echo the request.
      const body = err.cause as Record<string, unknown>;
      const error = knownError(err.error);
      const suberror = knownSuberror(body.suberror);
      const description = scrub(err.error_description, secrets);
      const challenge =
        error === 'interaction_required' ? claimsChallenge(body.claims, secrets) : undefined;
      this.logger.warn('credential exchange refused by the IdP', {
        upstream,
        type: config.type,
        status: err.status,
        error: error ?? 'unrecognised',
        ...(suberror === undefined ? {} : { suberror }),
        ...(description === undefined ? {} : { description }),
        ...(body.claims !== undefined && challenge === undefined
          ? { claims: 'dropped: not a clean JSON claims request' }
          : {}),
      });
      const said = description === undefined ? '' : `; the IdP said: "${description}"`;
      if (error === 'interaction_required') {
        return new CredentialError(
          `${what}: interaction_required — sign in again to satisfy your organisation's requirements (step-up)${said}`,
          challenge,
        );
      }
      const sub = suberror === undefined ? '' : ` (${suberror})`;
      const hint =
        suberror === 'consent_required'
          ? ' — an administrator must grant consent for this API'
          : error === 'invalid_scope'
            ? ' — the policy asked for scopes this API does not grant'
            : error === 'invalid_grant'
              ? ' — your token was not accepted; re-authenticate'
              : '';
      return new CredentialError(
        `${what}: ${error ?? 'an error code that is not a known OAuth error'}${sub}${hint}${said}`,
      );
    }
    const message =
      scrub(err instanceof Error ? err.message : String(err), secrets) ?? 'no detail given';
    this.logger.warn('credential exchange failed', { upstream, type: config.type, error: message });
    return new CredentialError(
      `${what}: the IdP could not be reached (${message}); no fallback credential is used`,
    );
  }

  /** The OAuth client the gateway exchanges with (discovered once per issuer). */
  private client(config: UserCredentialConfig): Promise<oidc.Configuration> {
    // Keyed by the client's secret material too: a rotated secret makes a new client.
    const material = readValue(
      config.clientAuth.kind === 'secret' ? config.clientAuth.secret : config.clientAuth.key,
      'credential client authentication',
    );
    const cacheKey = [
      config.type,
      config.type === 'token-exchange' ? config.issuer : config.tokenEndpoint,
      config.clientId,
      createHash('sha256').update(material).digest('hex'),
    ].join('\u0000');
    let client = this.clients.get(cacheKey);
    if (!client) {
      client = this.buildClient(config);
      client.catch(() => this.clients.delete(cacheKey));
      this.clients.set(cacheKey, client);
    }
    return client;
  }

  private async buildClient(config: UserCredentialConfig): Promise<oidc.Configuration> {
    const auth =
      config.clientAuth.kind === 'secret'
        ? oidc.ClientSecretPost(readValue(config.clientAuth.secret, 'credential.client_secret'))
        : oidc.PrivateKeyJwt(
            await importPKCS8(
              readValue(config.clientAuth.key, 'credential.private_key'),
              config.clientAuth.alg,
            ),
          );
    const execute = config.allowInsecureHttp ? [oidc.allowInsecureRequests] : [];
    if (config.type === 'token-exchange') {
      return oidc.discovery(new URL(config.issuer), config.clientId, undefined, auth, { execute });
    }
    const issuer = `https://login.microsoftonline.com/${config.tenant}/v2.0`;
    const client = new oidc.Configuration(
      { issuer, token_endpoint: config.tokenEndpoint },
      config.clientId,
      undefined,
      auth,
    );
    for (const fn of execute) fn(client);
    return client;
  }
}
