// A real redis-server for tests: on a free loopback port, without persistence, stopped,
// killed, paused or restarted (on the same port) at will; also a real Redis Cluster (six
// nodes made into three primaries with a replica each by redis-cli) and a real Redis
// Sentinel set-up (a primary, its replica and three Sentinels). Nothing is mocked.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { findBinary } from './binaries.js';
import { exitProcess } from './exit-process.js';

/** Both come with Debian's redis-server package; `redis-server --sentinel` runs a Sentinel. */
function redisBinary(name: 'redis-server' | 'redis-cli', variable: string): string {
  return findBinary(
    name,
    variable,
    'the session store tests need a real Redis; install it with `apt-get install redis-server`',
  );
}

const run = promisify(execFile);

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisServer {
  url: string;
  port: number;
  /** Graceful shutdown (SIGTERM); resolves when the process has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port (stopping it first if it runs); resolves on PING. */
  restart(): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
  /** SIGSTOP: the port stays open but nothing answers (a hung Redis). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function startRedis(): Promise<RedisServer> {
  return retryOnPortInUse(startRedisOnce);
}

async function startRedisOnce(): Promise<RedisServer> {
  const binary = redisBinary('redis-server', 'REDIS_SERVER');
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(binary, port);

  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    child = undefined;
    if (current) await exitProcess(current, signal);
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => exit('SIGTERM'),
    kill: () => exit('SIGKILL'),
    restart: async () => {
      await exit('SIGTERM');
      child = await launch(binary, port);
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}

/** Arguments of a redis-server without persistence, on loopback. */
function plainArgs(port: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ];
}

/** The same with a password, also for talking to its primary. */
function nodeArgs(port: number, dir: string, password: string): string[] {
  return [...plainArgs(port, dir), '--requirepass', password, '--masterauth', password];
}

/** Polls check until it returns true; throws naming what after timeoutMs. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A node still starting may refuse the check's connection: not ready yet.
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Runs fn with a short-lived client of one node (or Sentinel). */
async function withClient<T>(
  port: number,
  password: string,
  fn: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    password,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** The fields of an INFO section as an object. */
function infoFields(info: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of info.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

export interface RedisCluster {
  /** Every node, primaries first as redis-cli made them, then their replicas. */
  nodes: HostPort[];
  /** The password of every node (requirepass and masterauth). */
  password: string;
  /** The port of the primary that holds the key's hash slot now. */
  primaryOf(key: string): Promise<number>;
  /** SIGKILL the primary that holds the key's slot; resolves with its port once it has exited. */
  killPrimaryOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Six cluster-enabled redis-servers on loopback made into a cluster by `redis-cli --cluster
 * create … --cluster-replicas 1`: three primaries with one replica each. Resolves once
 * every node reports cluster_state:ok and every primary's replica is in sync. A node is
 * declared failed after 1 s (cluster-node-timeout), so a failover takes about 2 s.
 */
export function startRedisCluster(): Promise<RedisCluster> {
  return retryOnPortInUse(startRedisClusterOnce);
}

async function startRedisClusterOnce(): Promise<RedisCluster> {
  const server = redisBinary('redis-server', 'REDIS_SERVER');
  const cli = redisBinary('redis-cli', 'REDIS_CLI');
  const password = `cluster-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-redis-cluster-'));
  const ports = await freePorts(12);
  const nodePorts = ports.slice(0, 6);
  const children = new Map<number, ChildProcess>();
  await Promise.all(
    nodePorts.map(async (port, i) => {
      const args = [
        ...nodeArgs(port, dir, password),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-port',
        String(ports[6 + i]),
        '--cluster-node-timeout',
        '1000',
      ];
      children.set(port, await launch(server, port, args, password));
    }),
  );
  const stop = async (): Promise<void> => {
    await Promise.all([...children.values()].map((child) => exitProcess(child, 'SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(cli, [
      '-a',
      password,
      '--no-auth-warning',
      '--cluster',
      'create',
      ...nodePorts.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await waitFor(
      'the cluster was not ok on every node with every replica in sync',
      async () => {
        let synced = 0;
        for (const port of nodePorts) {
          const [cluster, replication] = await withClient(port, password, async (client) => [
            infoFields(String(await client.call('CLUSTER', 'INFO'))),
            infoFields(await client.info('replication')),
          ]);
          if (cluster.cluster_state !== 'ok') return false;
          if (replication.role === 'master' && /state=online/.test(replication.slave0 ?? '')) {
            synced++;
          }
        }
        return synced === 3;
      },
      15_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const primaryOf = (key: string): Promise<number> =>
    withClient(nodePorts[0] ?? 0, password, async (client) => {
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<
        [number, number, [string, number]]
      >;
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no node holds slot ${slot}`);
      return range[2][1];
    });

  return {
    nodes: nodePorts.map((port) => ({ host: '127.0.0.1', port })),
    password,
    primaryOf,
    killPrimaryOf: async (key) => {
      const port = await primaryOf(key);
      const child = children.get(port);
      if (child) await exitProcess(child, 'SIGKILL');
      return port;
    },
    stop,
  };
}

export interface RedisSentinelSetup {
  /** The name the Sentinels monitor the primary by. */
  name: string;
  sentinels: HostPort[];
  /** The data nodes' password (requirepass, masterauth, sentinel auth-pass). */
  password: string;
  /** The Sentinels' own password. */
  sentinelPassword: string;
  /** The port of the primary the Sentinels name now. */
  primary(): Promise<number>;
  /** SIGKILL the current primary; resolves with its port once it has exited. */
  killPrimary(): Promise<number>;
  /** Starts a killed data node again on its port, as a replica of the current primary. */
  restartAsReplica(port: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A primary, its replica and three Sentinels (quorum 2) on loopback, with passwords on the
 * data nodes and on the Sentinels. A primary is down for the Sentinels after 1 s without an
 * answer (down-after-milliseconds). Resolves once every Sentinel knows the replica and the
 * two other Sentinels, so a failover can start as soon as the primary dies.
 */
export function startRedisSentinel(): Promise<RedisSentinelSetup> {
  return retryOnPortInUse(startRedisSentinelOnce);
}

async function startRedisSentinelOnce(): Promise<RedisSentinelSetup> {
  const server = redisBinary('redis-server', 'REDIS_SERVER');
  const name = 'mcpgate';
  const password = `data-${randomUUID()}`;
  const sentinelPassword = `sentinel-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-redis-sentinel-'));
  const [primaryPort, replicaPort, ...sentinelPorts] = await freePorts(5);
  if (primaryPort === undefined || replicaPort === undefined) throw new Error('no free ports');
  const children = new Map<number, ChildProcess>();
  const stop = async (): Promise<void> => {
    await Promise.all([...children.values()].map((child) => exitProcess(child, 'SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  };
  const startReplica = async (port: number, of: number): Promise<void> => {
    const args = [...nodeArgs(port, dir, password), '--replicaof', '127.0.0.1', String(of)];
    children.set(port, await launch(server, port, args, password));
    await waitFor(
      `the replica on port ${port} did not sync with its primary on ${of}`,
      () =>
        withClient(port, password, async (client) =>
          /master_link_status:up/.test(await client.info('replication')),
        ),
      10_000,
    );
  };
  try {
    children.set(
      primaryPort,
      await launch(server, primaryPort, nodeArgs(primaryPort, dir, password), password),
    );
    await startReplica(replicaPort, primaryPort);
    await Promise.all(
      sentinelPorts.map(async (port) => {
        const conf = join(dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `requirepass ${sentinelPassword}`,
            `sentinel sentinel-pass ${sentinelPassword}`,
            `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
            `sentinel auth-pass ${name} ${password}`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 10000`,
            '',
          ].join('\n'),
        );
        children.set(port, await launch(server, port, [conf, '--sentinel'], sentinelPassword));
      }),
    );
    await waitFor(
      'the Sentinels did not all know the replica and each other',
      async () => {
        for (const port of sentinelPorts) {
          const master = await withClient(port, sentinelPassword, async (client) =>
            pairs((await client.call('SENTINEL', 'MASTER', name)) as string[]),
          );
          if (master['num-slaves'] !== '1' || master['num-other-sentinels'] !== '2') return false;
        }
        return true;
      },
      15_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const primary = (): Promise<number> =>
    withClient(sentinelPorts[0] ?? 0, sentinelPassword, async (client) => {
      const [, port] = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [
        string,
        string,
      ];
      return Number(port);
    });

  return {
    name,
    sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
    password,
    sentinelPassword,
    primary,
    killPrimary: async () => {
      const port = await primary();
      const child = children.get(port);
      if (child) await exitProcess(child, 'SIGKILL');
      return port;
    },
    restartAsReplica: async (port) => startReplica(port, await primary()),
    stop,
  };
}

function pairs(flat: string[]): Record<string, string> {
  const object: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) object[flat[i] as string] = flat[i + 1] as string;
  return object;
}

/**
 * Starts redis-server on the port (by default a plain one without persistence, in the temp
 * directory) and resolves once it answers PING (with AUTH first when it has a password).
 */
async function launch(
  binary: string,
  port: number,
  args: string[] = plainArgs(port, tmpdir()),
  password?: string,
): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.once('exit', () => running.delete(child));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited at start-up:\n${output}`);
    }
    if (await pings(port, password)) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s:\n${output}`);
    }
    await sleep(25);
  }
}

/** True when something on the port answers PING with +PONG (after AUTH, given a password). */
function pings(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () =>
      socket.write(password === undefined ? 'PING\r\n' : `AUTH ${password}\r\nPING\r\n`),
    );
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      const lines = reply.split('\r\n');
      const needed = password === undefined ? 1 : 2;
      if (lines.length > needed) done(lines[needed - 1] === '+PONG');
    });
  });
}

/**
 * Runs a setup again (at most three times, on new ports) when a redis-server found its port
 * taken: another test process may bind a port between our probe and the server's start.
 * What the failed attempt started is killed when this process exits.
 */
async function retryOnPortInUse<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

/** n distinct free ports. */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/**
 * Ports this process handed out already: setups started side by side (a server, a cluster
 * and Sentinels at once) must not get the same port, which the OS may offer again once the
 * probe that found it has closed.
 */
const handedOut = new Set<number>();

async function freePort(): Promise<number> {
  for (;;) {
    const port = await probePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no free port')),
      );
    });
  });
}
