// Where the Redis session store connects: one Redis by URL, a Redis Cluster through some of
// its nodes, or the primary that Redis Sentinel names. Builds the ioredis clients for each
// (the store decides what runs over them, redis-store.ts).
import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTarget =
  /** redis://[user:password@]host:port[/db] or rediss://… (TLS). */
  | { kind: 'url'; url: string }
  /** Some nodes of a Redis Cluster (any of them; the others are discovered). */
  | { kind: 'cluster'; nodes: HostPort[]; username?: string; password?: string }
  /** The Sentinels watching the primary `name`; the password is the data nodes'. */
  | {
      kind: 'sentinel';
      sentinels: HostPort[];
      name: string;
      username?: string;
      password?: string;
      sentinelPassword?: string;
    };

/** How messages and logs name the target: hosts and ports, never a password. */
export function describeTarget(target: RedisTarget): string {
  switch (target.kind) {
    case 'url':
      return `Redis at ${hostOfUrl(target.url)}`;
    case 'cluster':
      return `Redis Cluster at ${target.nodes.map(hostPort).join(',')}`;
    case 'sentinel':
      return `Redis "${target.name}" via Sentinel at ${target.sentinels.map(hostPort).join(',')}`;
  }
}

/**
 * The client for commands. `common` holds what every connection shares (timeouts, no
 * offline queue, no retried commands, the reconnection backoff as `retryStrategy`).
 */
export function commandClient(
  target: RedisTarget,
  common: RedisOptions,
  connectionName: string,
): Redis | Cluster {
  switch (target.kind) {
    case 'url':
      return new Redis(target.url, { ...common, connectionName });
    case 'sentinel':
      return new Redis({ ...common, ...sentinelOptions(target, common), connectionName });
    case 'cluster': {
      const { retryStrategy, lazyConnect, enableOfflineQueue, ...perNode } = common;
      return new Cluster(target.nodes, {
        lazyConnect,
        enableOfflineQueue,
        clusterRetryStrategy: (times) => retryStrategy?.(times) ?? null,
        // Each node's connection: the common timeouts and the credentials. ioredis gives
        // node connections their own queue, used only while it connects to a node.
        redisOptions: {
          ...perNode,
          connectionName,
          ...credentials(target),
        },
      });
    }
  }
}

/**
 * The client for the termination events. For a cluster it is a plain connection to one
 * node (`attempt` picks which among `candidates`, in turn) that gives up at its first
 * failure, so the store can move to another node; otherwise it reconnects by itself.
 */
export function subscriberClient(
  target: RedisTarget,
  common: RedisOptions,
  connectionName: string,
  candidates: HostPort[],
  attempt: number,
): Redis {
  const options: RedisOptions = { ...common, connectionName, autoResubscribe: false };
  switch (target.kind) {
    case 'url':
      return new Redis(target.url, options);
    case 'sentinel':
      return new Redis({ ...options, ...sentinelOptions(target, common) });
    case 'cluster': {
      const node = candidates[attempt % candidates.length] ?? target.nodes[0];
      return new Redis({ ...options, ...node, ...credentials(target), retryStrategy: () => null });
    }
  }
}

function sentinelOptions(
  target: Extract<RedisTarget, { kind: 'sentinel' }>,
  common: RedisOptions,
): RedisOptions {
  return {
    sentinels: target.sentinels,
    name: target.name,
    ...credentials(target),
    ...(target.sentinelPassword === undefined ? {} : { sentinelPassword: target.sentinelPassword }),
    sentinelCommandTimeout: common.commandTimeout,
    // A planned failover (SENTINEL FAILOVER) keeps the old primary up as a replica: the
    // Sentinels' +switch-master makes the client reconnect to the new primary at once, and
    // a write refused as READONLY meanwhile makes it reconnect too (the write is not sent
    // again: it fails, and the request is denied).
    failoverDetector: true,
    reconnectOnError: (err) => (/READONLY/.test(err.message) ? 1 : false),
  };
}

function credentials(target: { username?: string; password?: string }): RedisOptions {
  return {
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
  };
}

function hostPort(node: HostPort): string {
  return node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
}

/** host:port of a Redis URL, without credentials. */
function hostOfUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the configured URL';
  }
}
