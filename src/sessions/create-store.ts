// Builds the configured session store: in memory (one process) or Redis (several replicas).
import type { StoreConfig } from '../config/sessions.js';
import { readValue } from '../config/secrets.js';
import type { Logger } from '../util/logger.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore } from './redis-store.js';
import type { SessionStore } from './store.js';

export function createStore(config: StoreConfig, logger: Logger): SessionStore {
  if (config.type === 'memory') return new MemoryStore({ logger });
  return new RedisStore({
    url: readValue(config.url, 'sessions.store.url'),
    keyPrefix: config.keyPrefix,
    commandTimeoutMs: config.commandTimeoutMs,
    logger,
  });
}
