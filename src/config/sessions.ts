// Resolved sessions configuration (see sessions-schema.ts for the file form).
import type { RawSessions } from './sessions-schema.js';
import { parseSecretRef, type ValueSource } from './secrets.js';

export interface RateWindow {
  limit: number;
  windowMs: number;
}

export type StoreConfig =
  | { type: 'memory' }
  | { type: 'redis'; url: ValueSource; keyPrefix: string; commandTimeoutMs: number };

export interface SessionsConfig {
  maxSessions: number;
  maxSessionsPerPrincipal: number;
  maxRequestsInFlight: number;
  idleTimeoutMs: number;
  historyLimit: number;
  summaryLimit: number;
  defaultPurpose: string;
  store: StoreConfig;
  rateLimits: { perSession?: RateWindow; perUser?: RateWindow; perTool?: RateWindow };
}

const windowOf = (w: { limit: number; window_s: number } | undefined): RateWindow | undefined =>
  w && { limit: w.limit, windowMs: Math.round(w.window_s * 1000) };

export function resolveSessions(raw: RawSessions, baseDir: string): SessionsConfig {
  const store: StoreConfig =
    raw.store.type === 'memory'
      ? { type: 'memory' }
      : {
          type: 'redis',
          url:
            typeof raw.store.url === 'string'
              ? parseSecretRef(raw.store.url, 'sessions.store.url', baseDir)
              : { kind: 'literal', value: raw.store.url.literal },
          keyPrefix: raw.store.key_prefix,
          commandTimeoutMs: raw.store.command_timeout_ms,
        };
  const rateLimits: SessionsConfig['rateLimits'] = {};
  const perSession = windowOf(raw.rate_limits.per_session);
  const perUser = windowOf(raw.rate_limits.per_user);
  const perTool = windowOf(raw.rate_limits.per_tool);
  if (perSession) rateLimits.perSession = perSession;
  if (perUser) rateLimits.perUser = perUser;
  if (perTool) rateLimits.perTool = perTool;
  return {
    maxSessions: raw.max_sessions,
    maxSessionsPerPrincipal: raw.max_sessions_per_principal,
    maxRequestsInFlight: raw.max_requests_in_flight,
    idleTimeoutMs: Math.round(raw.idle_timeout_s * 1000),
    historyLimit: raw.history_limit,
    summaryLimit: raw.summary_limit,
    defaultPurpose: raw.default_purpose,
    store,
    rateLimits,
  };
}
