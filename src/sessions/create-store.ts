// Builds the configured session store: in memory (one process) or Redis (several replicas),
// reached by URL, as a Redis Cluster or through Redis Sentinel.
//
// The Redis store (and ioredis with it) is imported only when configured. Loading ioredis
// defines `class VerbatimString extends String`, which invalidates V8's
// StringWrapperToPrimitive protector for the whole process: string builtins leave their fast
// paths (a 10 KB charCodeAt loop measured 4-10x slower). A gateway on the memory store keeps
// them (docs/performance.md).
import type { RedisStoreConfig, StoreConfig } from '../config/sessions.js';
import { readValue } from '../config/secrets.js';
import type { Logger } from '../util/logger.js';
import { MemoryStore } from './memory-store.js';
import type { RedisTarget } from './redis/target.js';
import type { SessionStore } from './store.js';

export async function createStore(config: StoreConfig, logger: Logger): Promise<SessionStore> {
  if (config.type === 'memory') return new MemoryStore({ logger });
  const { RedisStore } = await import('./redis-store.js');
  return new RedisStore({
    target: redisTarget(config),
    keyPrefix: config.keyPrefix,
    commandTimeoutMs: config.commandTimeoutMs,
    ...(config.replicaAck ? { replicaAck: config.replicaAck } : {}),
    logger,
  });
}

/** The secrets are read here, once, at start-up. */
function redisTarget(config: RedisStoreConfig): RedisTarget {
  const { endpoint } = config;
  if (endpoint.kind === 'url') {
    return { kind: 'url', url: readValue(endpoint.url, 'sessions.store.url') };
  }
  const credentials = {
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined
      ? {}
      : { password: readValue(config.password, 'sessions.store.password') }),
  };
  if (endpoint.kind === 'cluster')
    return { kind: 'cluster', nodes: endpoint.nodes, ...credentials };
  return {
    kind: 'sentinel',
    sentinels: endpoint.sentinels,
    name: endpoint.name,
    ...credentials,
    ...(config.sentinelPassword === undefined
      ? {}
      : {
          sentinelPassword: readValue(config.sentinelPassword, 'sessions.store.sentinel_password'),
        }),
  };
}
