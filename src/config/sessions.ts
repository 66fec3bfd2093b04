// Resolved sessions configuration (see sessions-schema.ts for the file form).
import type { RawSessions } from './sessions-schema.js';
import { parseSecretRef, type ValueSource } from './secrets.js';
import type { RawValueSource } from './value-source.js';

export interface RateWindow {
  limit: number;
  windowMs: number;
}

/** Where the Redis store connects: one Redis, a Redis Cluster, or through Redis Sentinel. */
export type RedisEndpoint =
  | { kind: 'url'; url: ValueSource }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }> }
  | { kind: 'sentinel'; sentinels: Array<{ host: string; port: number }>; name: string };

export interface RedisStoreConfig {
  type: 'redis';
  endpoint: RedisEndpoint;
  /** Cluster and Sentinel forms: the data nodes' ACL user and password. */
  username?: string;
  password?: ValueSource;
  /** Sentinel form: the Sentinels' own password. */
  sentinelPassword?: ValueSource;
  keyPrefix: string;
  commandTimeoutMs: number;
  /** WAIT for this many replicas after creating or terminating a session; null: do not. */
  replicaAck: { replicas: number; timeoutMs: number } | null;
}

export type StoreConfig = { type: 'memory' } | RedisStoreConfig;

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

type RawRedisStore = Extract<RawSessions['store'], { type: 'redis' }>;

function resolveValue(value: RawValueSource, where: string, baseDir: string): ValueSource {
  return typeof value === 'string'
    ? parseSecretRef(value, where, baseDir)
    : { kind: 'literal', value: value.literal };
}

/** "host:port" or "[v6]:port", as the schema checked it. */
function hostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon);
  return {
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port: Number(value.slice(colon + 1)),
  };
}

function resolveRedisStore(raw: RawRedisStore, baseDir: string): RedisStoreConfig {
  // The schema lets exactly one form through.
  const endpoint: RedisEndpoint = raw.nodes
    ? { kind: 'cluster', nodes: raw.nodes.map(hostPort) }
    : raw.sentinels
      ? { kind: 'sentinel', sentinels: raw.sentinels.map(hostPort), name: raw.name ?? '' }
      : { kind: 'url', url: resolveValue(raw.url ?? '', 'sessions.store.url', baseDir) };
  // With replicas to fail over to (cluster, Sentinel), a session is not handed out before a
  // replica holds it, unless the configuration says otherwise.
  const replicaAck =
    raw.replica_ack === undefined
      ? endpoint.kind === 'url'
        ? null
        : { replicas: 1, timeoutMs: Math.floor(raw.command_timeout_ms / 2) }
      : raw.replica_ack === false
        ? null
        : { replicas: raw.replica_ack.replicas, timeoutMs: raw.replica_ack.timeout_ms };
  return {
    type: 'redis',
    endpoint,
    ...(raw.username === undefined ? {} : { username: raw.username }),
    ...(raw.password === undefined
      ? {}
      : { password: resolveValue(raw.password, 'sessions.store.password', baseDir) }),
    ...(raw.sentinel_password === undefined
      ? {}
      : {
          sentinelPassword: resolveValue(
            raw.sentinel_password,
            'sessions.store.sentinel_password',
            baseDir,
          ),
        }),
    keyPrefix: raw.key_prefix,
    commandTimeoutMs: raw.command_timeout_ms,
    replicaAck,
  };
}

export function resolveSessions(raw: RawSessions, baseDir: string): SessionsConfig {
  const store: StoreConfig =
    raw.store.type === 'memory' ? { type: 'memory' } : resolveRedisStore(raw.store, baseDir);
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
