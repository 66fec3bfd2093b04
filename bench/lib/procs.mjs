// Child processes of the bench: spawned on loopback, pinned to a core where the OS allows
// (taskset), watched through /proc, and always stopped (SIGTERM, then SIGKILL after a
// bounded wait). Nothing here is specific to one kind of process.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout, clearTimeout } from 'node:timers';

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
const CPUS = (() => {
  try {
    const out = spawnSync('nproc', [], { encoding: 'utf8' });
    return Number.parseInt(out.stdout, 10) || 1;
  } catch {
    return 1;
  }
})();

/** Pinning is used when taskset exists and there are at least two cores to split. */
export const pinning = {
  available: TASKSET !== undefined && CPUS >= 2 && process.platform === 'linux',
  taskset: TASKSET,
  cpus: CPUS,
  /** The core of the process under test (gateway, OPA server). */
  serverCore: 0,
  /** The core of the load generator, the upstream and the orchestrator. */
  clientCore: 1,
};

/** Every process started here, so an abort can still stop them all. */
const started = new Set();
process.on('exit', () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

/**
 * Spawns `command args` pinned to `core` (when pinning is available). The pid of the
 * returned child is the command's own: taskset execs it.
 */
export function spawnPinned(core, command, args, options = {}) {
  const pinned = pinning.available && core !== undefined;
  const child = pinned
    ? spawn(pinning.taskset, ['-c', String(core), command, ...args], options)
    : spawn(command, args, options);
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** Pins the current process (the orchestrator) to a core; false when it cannot. */
export function pinSelf(core) {
  if (!pinning.available) return false;
  const result = spawnSync(pinning.taskset, ['-pc', String(core), String(process.pid)], {
    encoding: 'utf8',
  });
  return result.status === 0;
}

/**
 * Keeps the last lines of a stream (so a failure can show them) and calls onLine for each.
 * Always drains the stream: a child blocked on a full pipe would distort every number.
 */
export function tailLines(stream, keep = 60, onLine = undefined) {
  const lines = [];
  if (!stream) return lines;
  createInterface({ input: stream }).on('line', (line) => {
    lines.push(line);
    if (lines.length > keep) lines.shift();
    if (onLine) onLine(line);
  });
  return lines;
}

/** Resolves with the first value `match(line)` returns for a line of `stream`. */
export function waitForLine(child, stream, match, timeoutMs, what, tail) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () => finish(new Error(`${what} did not start within ${timeoutMs} ms:\n${tail.join('\n')}`)),
      timeoutMs,
    );
    createInterface({ input: stream }).on('line', (line) => {
      const value = match(line);
      if (value !== undefined) finish(undefined, value);
    });
    child.once('exit', (code, signal) =>
      finish(
        new Error(`${what} exited (${String(code ?? signal)}) at start-up:\n${tail.join('\n')}`),
      ),
    );
  });
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
export async function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A free loopback port (for servers that must be told their port). */
export function freePort() {
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

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status), or null. */
export function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system) of a process in clock ticks, from /proc/<pid>/stat, or null. */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/**
 * Busy and total clock ticks of the whole machine (all cores), from the first line of
 * /proc/stat, or null.
 */
export function machineTicks() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const busy = user + nice + system + irq + softirq + (steal || 0);
    return { busy, total: busy + idle + (iowait || 0) };
  } catch {
    return null;
  }
}

/** Clock ticks per second (for cpuTicks), 100 when getconf is missing. */
export const CLK_TCK = (() => {
  try {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    return Number.parseInt(out.stdout, 10) || 100;
  } catch {
    return 100;
  }
})();
