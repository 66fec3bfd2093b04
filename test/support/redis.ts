// A real redis-server for tests: on a free loopback port, without persistence, stopped,
// killed, paused or restarted (on the same port) at will. Nothing is mocked.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** $REDIS_SERVER, else the first redis-server on PATH (where scripts/setup.sh looks too). */
function redisServerBinary(): string {
  const binary =
    process.env.REDIS_SERVER ??
    (process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'redis-server'))
      .find((file) => existsSync(file));
  if (binary === undefined || !existsSync(binary)) {
    throw new Error(
      `redis-server not found (${binary ?? 'not on PATH, and REDIS_SERVER is unset'}): the session ` +
        'store tests need a real Redis; install it with `apt-get install redis-server` ' +
        '(or set REDIS_SERVER to its path)',
    );
  }
  return binary;
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

export async function startRedis(): Promise<RedisServer> {
  const binary = redisServerBinary();
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(binary, port);

  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    current.kill('SIGCONT'); // a paused server cannot handle SIGTERM
    current.kill(signal);
    await exited;
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

async function launch(binary: string, port: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn(binary, [...args, '--dir', tmpdir()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
    if (await pings(port)) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s:\n${output}`);
    }
    await sleep(25);
  }
}

/** True when something on the port answers PING with +PONG. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function freePort(): Promise<number> {
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
