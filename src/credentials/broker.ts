// The credential broker: the only place upstream credentials exist. For a call it returns
// the credential that call runs with — a static secret read now (rotation needs no restart),
// or a token exchanged at the IdP for this user, this upstream and the scopes the policy
// decided. Exchanged tokens are cached per (session, upstream, audience, scopes) until just
// before they expire, kept in this process's memory only, and dropped with the session.
// Failure is a CredentialError with a reason for the user: never a fallback.
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { importPKCS8 } from 'jose';
import type { CredentialConfig } from '../config/credentials.js';
import { readValue, SecretError } from '../config/secrets.js';
import { McpgateError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

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
  /** The user's own access token: the subject of the exchange. Never stored or logged. */
  subjectToken: string;
  subject: string;
  clientId: string;
  tokenType: 'user' | 'app';
}

interface Cached {
  token: string;
  expiresAt: number;
}

const SUBJECT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export class CredentialBroker {
  private readonly cache = new Map<string, Cached>();
  private readonly bySession = new Map<string, Set<string>>();
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
    const scopes = [...new Set(obligation?.scopes ?? config.defaultScopes)].sort();
    const facts: CredentialFacts = {
      kind: config.type,
      audience,
      scopes,
      actor_chain: { user: who.subject, client: who.clientId, gateway: this.gatewayId },
    };
    const key = [who.sessionId, upstream, audience, scopes.join(' ')].join('\u0000');
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt - config.refreshBeforeMs > Date.now()) {
      return { headers: { Authorization: `Bearer ${cached.token}` }, facts };
    }
    const fresh = await this.exchange(upstream, config, who.subjectToken, audience, scopes);
    this.cache.set(key, fresh);
    let keys = this.bySession.get(who.sessionId);
    if (!keys) {
      keys = new Set();
      this.bySession.set(who.sessionId, keys);
    }
    keys.add(key);
    return { headers: { Authorization: `Bearer ${fresh.token}` }, facts };
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
          throw this.describe(upstream, config, err);
        }
        const expiresIn = typeof response.expires_in === 'number' ? response.expires_in : 300;
        this.cache.set(key, {
          token: response.access_token,
          expiresAt: Date.now() + expiresIn * 1000,
        });
        return { Authorization: `Bearer ${response.access_token}` };
      }
    }
  }

  /** Forgets every token of a session (it ended). */
  dropSession(sessionId: string): void {
    for (const key of this.bySession.get(sessionId) ?? []) this.cache.delete(key);
    this.bySession.delete(sessionId);
  }

  private async exchange(
    upstream: string,
    config: UserCredentialConfig,
    subjectToken: string,
    audience: string,
    scopes: string[],
  ): Promise<Cached> {
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
      throw this.describe(upstream, config, err);
    }
    const expiresIn = typeof response.expires_in === 'number' ? response.expires_in : 300;
    return { token: response.access_token, expiresAt: Date.now() + expiresIn * 1000 };
  }

  private describe(upstream: string, config: UserCredentialConfig, err: unknown): CredentialError {
    if (err instanceof SecretError) {
      this.logger.error('gateway client credentials unreadable', { upstream, error: err.message });
      return new CredentialError(
        `the gateway's own client credentials for upstream ${upstream} cannot be read (see the gateway log)`,
      );
    }
    const what = `the IdP refused to issue a credential for upstream ${upstream} (${config.type})`;
    if (err instanceof oidc.ResponseBodyError) {
      const body = err.cause as Record<string, unknown>;
      if (err.error === 'interaction_required') {
        const claims = typeof body.claims === 'string' ? body.claims : undefined;
        return new CredentialError(
          `${what}: interaction_required — sign in again to satisfy your organisation's requirements (step-up)`,
          claims,
        );
      }
      const sub = typeof body.suberror === 'string' ? ` (${body.suberror})` : '';
      const hint =
        body.suberror === 'consent_required'
          ? ' — an administrator must grant consent for this API'
          : err.error === 'invalid_scope'
            ? ' — the policy asked for scopes this API does not grant'
            : err.error === 'invalid_grant'
              ? ' — your token was not accepted; re-authenticate'
              : '';
      return new CredentialError(`${what}: ${err.error}${sub}${hint}`);
    }
    const message = err instanceof Error ? err.message : String(err);
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
