// Resolved policy and audit configuration (see policy-schema.ts for the file form).
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { RawAudit, RawPolicy } from './policy-schema.js';
import { parseSecretRef, type SecretRef, type ValueSource } from './secrets.js';

export type PolicySourceConfig =
  | { kind: 'file'; path: string }
  | {
      kind: 'http';
      url: string;
      headers: Record<string, ValueSource>;
      minDelayMs: number;
      maxDelayMs: number;
      longPollingTimeoutS: number | undefined;
    }
  | { kind: 'watch'; regoDir: string };

export interface SigningConfig {
  required: boolean;
  keys: Array<{ keyId: string; algorithm: string; key: ValueSource }>;
  scope: string | undefined;
  excludeFiles: string[];
}

export interface PolicyConfig {
  source: PolicySourceConfig;
  signing: SigningConfig | undefined;
  maxBundleBytes: number;
  memory: { initialPages: number; maxPages: number };
}

export interface ServiceDestination {
  type: 'service';
  url: string;
  headers: Record<string, ValueSource>;
  batchMaxEvents: number;
  flushIntervalMs: number;
  maxBufferEvents: number;
  /** At maxBufferEvents: refuse new requests (default), or drop the oldest event as OPA does. */
  whenFull?: 'refuse' | 'drop_oldest';
  retry: { initialDelayMs: number; maxDelayMs: number };
}

/**
 * maxBufferBytes, accept: see audit.destinations[] (the configuration always sets them; the
 * decision log's defaults apply when code leaves them out).
 */
export type AuditDestination =
  | { type: 'stdout'; maxBufferBytes?: number; accept?: 'written' | 'queued' }
  | {
      type: 'file';
      path: string;
      maxBufferBytes?: number;
      accept?: 'written' | 'queued';
      maxFileBytes?: number;
      /** A batch on the event loop while writes take under this; 0: the thread pool. */
      syncWriteLimitMs?: number;
    }
  | ServiceDestination;

export interface AuditConfig {
  destinations: AuditDestination[];
  /** The key that signs every stdout and file line, by reference. */
  hmacKey: SecretRef | undefined;
  /** Where lines go that cannot be written at shutdown. */
  spoolDir: string;
}

/** audit.spool_dir when the configuration names none. */
export const DEFAULT_SPOOL_DIR = join(tmpdir(), 'mcpgate-spool');

function valueSources(
  record: Record<string, string | { literal: string }>,
  where: string,
  baseDir: string,
): Record<string, ValueSource> {
  return Object.fromEntries(
    Object.entries(record).map(([name, value]) => [
      name,
      typeof value === 'string'
        ? parseSecretRef(value, `${where}.${name}`, baseDir)
        : { kind: 'literal' as const, value: value.literal },
    ]),
  );
}

export function resolvePolicy(raw: RawPolicy, baseDir: string): PolicyConfig {
  let source: PolicySourceConfig;
  if (raw.watch_rego !== undefined) {
    source = { kind: 'watch', regoDir: resolve(baseDir, raw.watch_rego) };
  } else if (raw.source && 'http' in raw.source) {
    const http = raw.source.http;
    source = {
      kind: 'http',
      url: http.url,
      headers: valueSources(http.headers, 'policy.source.http.headers', baseDir),
      minDelayMs: Math.round(http.polling.min_delay_s * 1000),
      maxDelayMs: Math.round(http.polling.max_delay_s * 1000),
      longPollingTimeoutS: http.polling.long_polling_timeout_s,
    };
  } else {
    const file = raw.source && 'file' in raw.source ? raw.source.file : (raw.bundle ?? '');
    source = { kind: 'file', path: resolve(baseDir, file) };
  }
  return {
    source,
    signing: raw.signing && {
      required: raw.signing.required,
      keys: raw.signing.keys.map((k, i) => ({
        keyId: k.key_id,
        algorithm: k.algorithm,
        key:
          typeof k.key === 'string'
            ? parseSecretRef(k.key, `policy.signing.keys.${i}.key`, baseDir)
            : { kind: 'literal' as const, value: k.key.literal },
      })),
      scope: raw.signing.scope,
      excludeFiles: raw.signing.exclude_files,
    },
    maxBundleBytes: raw.max_bundle_bytes,
    memory: { initialPages: raw.memory.initial_pages, maxPages: raw.memory.max_pages },
  };
}

export function resolveAudit(raw: RawAudit, baseDir: string): AuditConfig {
  return {
    destinations: raw.destinations.map((d, i): AuditDestination => {
      switch (d.type) {
        case 'stdout':
          return { type: 'stdout', maxBufferBytes: d.max_buffer_bytes, accept: d.accept };
        case 'file':
          return {
            type: 'file',
            path: resolve(baseDir, d.path),
            maxBufferBytes: d.max_buffer_bytes,
            accept: d.accept,
            maxFileBytes: d.max_file_bytes,
            syncWriteLimitMs: d.sync_write_limit_ms,
          };
        case 'service':
          return {
            type: 'service',
            url: d.url,
            headers: valueSources(d.headers, `audit.destinations.${i}.headers`, baseDir),
            batchMaxEvents: d.batch_max_events,
            flushIntervalMs: Math.round(d.flush_interval_s * 1000),
            maxBufferEvents: d.max_buffer_events,
            whenFull: d.when_full,
            retry: {
              initialDelayMs: Math.round(d.retry.initial_delay_s * 1000),
              maxDelayMs: Math.round(d.retry.max_delay_s * 1000),
            },
          };
      }
    }),
    hmacKey:
      raw.hmac_key === undefined
        ? undefined
        : parseSecretRef(raw.hmac_key, 'audit.hmac_key', baseDir),
    spoolDir: raw.spool_dir === undefined ? DEFAULT_SPOOL_DIR : resolve(baseDir, raw.spool_dir),
  };
}
