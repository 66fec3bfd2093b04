// Resolved upstream credential configuration (see credentials-schema.ts for the file form).
import { ENTRA_ISSUER_TEMPLATES } from './auth.js';
import type { RawCredential } from './credentials-schema.js';
import { parseSecretRef, type ValueSource } from './secrets.js';

interface ExchangeCommon {
  clientId: string;
  clientAuth:
    | { kind: 'secret'; secret: ValueSource }
    | { kind: 'private_key_jwt'; key: ValueSource; alg: string };
  audience: string;
  defaultScopes: string[];
  refreshBeforeMs: number;
  /** The longest an obtained token is used, whatever the IdP's expires_in says. */
  maxTokenLifetimeMs: number;
  /**
   * The issuers whose tokens may be sent to this IdP as subject tokens: its own, then the
   * configured subject_issuers. A user's token never goes to any other token endpoint.
   */
  subjectIssuers: string[];
  allowInsecureHttp: boolean;
}

export type CredentialConfig =
  | { type: 'none' }
  | {
      type: 'static-secret';
      value: ValueSource;
      header: string;
      format: string;
      envVar: string | undefined;
    }
  | ({ type: 'token-exchange'; issuer: string } & ExchangeCommon)
  | ({ type: 'entra-obo'; tenant: string; tokenEndpoint: string } & ExchangeCommon);

/** Credentials obtained per user (and so per session). */
export function isUserCredential(
  c: CredentialConfig,
): c is Extract<CredentialConfig, { audience: string }> {
  return c.type === 'token-exchange' || c.type === 'entra-obo';
}

function source(value: string | { literal: string }, where: string, baseDir: string): ValueSource {
  return typeof value === 'string'
    ? parseSecretRef(value, where, baseDir)
    : { kind: 'literal', value: value.literal };
}

export function resolveCredential(
  raw: RawCredential,
  where: string,
  baseDir: string,
): CredentialConfig {
  switch (raw.type) {
    case 'none':
      return raw;
    case 'static-secret':
      return {
        type: 'static-secret',
        value: source(raw.value, `${where}.value`, baseDir),
        header: raw.header,
        format: raw.format,
        envVar: raw.env_var,
      };
    case 'token-exchange':
    case 'entra-obo': {
      const own =
        raw.type === 'token-exchange'
          ? [raw.issuer]
          : [ENTRA_ISSUER_TEMPLATES.v2, ENTRA_ISSUER_TEMPLATES.v1].map((t) =>
              t.replace('{tid}', raw.tenant.toLowerCase()),
            );
      const common: ExchangeCommon = {
        clientId: raw.client_id,
        clientAuth:
          raw.private_key !== undefined
            ? {
                kind: 'private_key_jwt',
                key: source(raw.private_key, `${where}.private_key`, baseDir),
                alg: raw.private_key_alg,
              }
            : {
                kind: 'secret',
                secret: source(raw.client_secret ?? '', `${where}.client_secret`, baseDir),
              },
        audience: raw.audience,
        defaultScopes: raw.scopes,
        refreshBeforeMs: Math.round(raw.refresh_before_s * 1000),
        maxTokenLifetimeMs: raw.max_token_lifetime_s * 1000,
        subjectIssuers: [...own, ...raw.subject_issuers],
        allowInsecureHttp: raw.allow_insecure_http,
      };
      return raw.type === 'token-exchange'
        ? { type: 'token-exchange', issuer: raw.issuer, ...common }
        : {
            type: 'entra-obo',
            tenant: raw.tenant,
            tokenEndpoint: raw.token_endpoint.replace('{tid}', raw.tenant),
            ...common,
          };
    }
  }
}
