// One issuer's signing keys. Fetched from the JWKS endpoint (found by OIDC discovery when
// not configured), cached, refreshed when older than max-age, and refetched early when a
// token names an unknown key id (rotation) at most once per cooldown. When the IdP cannot be
// reached the cached keys keep working and the failure is logged and shown in /readyz.
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  errors as joseErrors,
} from 'jose';
import * as oidc from 'openid-client';
import type { Logger } from '../util/logger.js';
import { McpgateError } from '../util/errors.js';

const FETCH_TIMEOUT_MS = 5000;
const MAX_JWKS_BYTES = 512 * 1024;

export interface KeySource {
  label: string;
  jwksUri: string | undefined;
  discoveryIssuer: string | undefined;
  allowInsecureHttp: boolean;
  cooldownMs: number;
  maxAgeMs: number;
}

export interface KeySetStatus {
  jwks_uri?: string;
  keys: number;
  fetched_at?: string;
  last_error?: string;
  last_error_at?: string;
}

export class KeySetUnavailableError extends McpgateError {
  static override readonly code = 'ERR_JWKS_UNAVAILABLE';
}

export class KeySet {
  private jwks: JSONWebKeySet | undefined;
  /** The JWKS document as fetched: a refetch that returns the same text changes nothing. */
  private jwksText: string | undefined;
  private generationValue = 0;
  private local: JWTVerifyGetKey | undefined;
  private jwksUri: string | undefined;
  private fetchedAt = 0;
  private attemptedAt = 0;
  private lastError: { message: string; at: number } | undefined;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: KeySource,
    private readonly logger: Logger,
  ) {
    this.jwksUri = source.jwksUri;
  }

  get hasKeys(): boolean {
    return this.jwks !== undefined;
  }

  /**
   * Changes whenever the key set does (a key added, removed or replaced), so what was
   * verified with an earlier set (the verified-token cache) can tell it is out of date.
   */
  get generation(): number {
    return this.generationValue;
  }

  /** Keys fetched within max-age: no refresh is due, so a verification would not fetch. */
  isFresh(now: number): boolean {
    return this.local !== undefined && now - this.fetchedAt <= this.source.maxAgeMs;
  }

  status(): KeySetStatus {
    const status: KeySetStatus = { keys: this.jwks?.keys.length ?? 0 };
    if (this.jwksUri) status.jwks_uri = this.jwksUri;
    if (this.fetchedAt) status.fetched_at = new Date(this.fetchedAt).toISOString();
    if (this.lastError) {
      status.last_error = this.lastError.message;
      status.last_error_at = new Date(this.lastError.at).toISOString();
    }
    return status;
  }

  /** Fetches the key set now (coalescing concurrent calls); failures keep the cached keys. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.attemptedAt = Date.now();
    try {
      this.jwksUri ??= await this.discover();
      const response = await fetch(this.jwksUri, {
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        headers: { accept: 'application/json' },
        redirect: 'error',
      });
      if (!response.ok) throw new Error(`JWKS endpoint answered HTTP ${response.status}`);
      const text = await response.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error('JWKS document is too large');
      const jwks = JSON.parse(text) as JSONWebKeySet;
      if (!Array.isArray(jwks.keys)) throw new Error('JWKS document has no "keys" array');
      if (text !== this.jwksText) {
        this.jwks = jwks;
        this.jwksText = text;
        this.local = createLocalJWKSet(jwks);
        this.generationValue++;
      }
      this.fetchedAt = Date.now();
      if (this.lastError)
        this.logger.info('issuer keys reachable again', { issuer: this.source.label });
      this.lastError = undefined;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.lastError = { message, at: Date.now() };
      this.logger.warn('issuer keys could not be fetched; cached keys stay in use', {
        issuer: this.source.label,
        jwks_uri: this.jwksUri,
        cached_keys: this.jwks?.keys.length ?? 0,
        error: message,
      });
    }
  }

  private async discover(): Promise<string> {
    if (!this.source.discoveryIssuer)
      throw new Error('no jwks_uri and no issuer to discover it from');
    const config = await oidc.discovery(
      new URL(this.source.discoveryIssuer),
      'mcpgate',
      undefined,
      undefined,
      {
        execute: this.source.allowInsecureHttp ? [oidc.allowInsecureRequests] : [],
        timeout: FETCH_TIMEOUT_MS / 1000,
      },
    );
    const uri = config.serverMetadata().jwks_uri;
    if (!uri) throw new Error(`issuer ${this.source.discoveryIssuer} publishes no jwks_uri`);
    return uri;
  }

  /**
   * Keeps the keys fresh in the background: retries every few seconds while there are none
   * (an IdP down at start-up), and refreshes at max-age afterwards, so readiness recovers
   * without waiting for a token to arrive.
   */
  startBackgroundRefresh(): void {
    const schedule = () => {
      const delay = this.jwks ? this.source.maxAgeMs : Math.min(5000, this.source.maxAgeMs);
      this.timer = setTimeout(() => {
        void this.refresh().finally(schedule);
      }, delay);
      this.timer.unref();
    };
    schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private cooledDown(now: number): boolean {
    return now - this.attemptedAt >= this.source.cooldownMs;
  }

  /** The key lookup jose's jwtVerify calls; only `kid`/`alg` of the header are used. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    // A fetch already under way (start-up, background refresh): use its result.
    if (this.inflight) await this.inflight;
    const now = Date.now();
    // Never fetched, or stale: try again, but at most once per cooldown, so an IdP that is
    // down does not get one request per gateway request.
    const stale = !this.local || now - this.fetchedAt > this.source.maxAgeMs;
    if (stale && this.cooledDown(now)) await this.refresh();
    if (!this.local) {
      throw new KeySetUnavailableError(
        `signing keys of the issuer are unavailable: ${this.lastError?.message ?? 'not fetched yet'}`,
      );
    }
    try {
      return await this.local(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || !this.cooledDown(Date.now())) throw err;
      await this.refresh();
      return this.local(header, token);
    }
  };
}
