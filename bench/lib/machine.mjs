// What the bench ran on: CPU, cores, memory, kernel, virtualisation, tool versions, the
// commit, and how processes were pinned. Read-only.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { OPA, REDIS_SERVER, ROOT } from './servers.mjs';
import { pinning } from './procs.mjs';

function firstLine(command, args, options = {}) {
  try {
    const out = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000, ...options });
    if (out.status !== 0) return null;
    return (out.stdout || out.stderr).split('\n')[0].trim() || null;
  } catch {
    return null;
  }
}

function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  const cpuinfo = readText('/proc/cpuinfo');
  const osRelease = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readText('/etc/os-release'))?.[1] ?? null;
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.arch()}`,
    os: osRelease,
    kernel: os.release(),
    virtualised: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
    node: process.version,
    opa: existsSync(OPA) ? firstLine(OPA, ['version']) : null,
    redis: existsSync(REDIS_SERVER) ? firstLine(REDIS_SERVER, ['--version']) : null,
    commit: firstLine('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT }),
    pinning: pinning.available
      ? {
          tool: 'taskset',
          gateway: `cpu ${pinning.serverCore} (also the OPA server and redis-server)`,
          client: `cpu ${pinning.clientCore} (load generator, decision worker, upstream, orchestrator)`,
        }
      : { tool: null, note: 'not pinned: taskset missing or fewer than 2 cores' },
  };
}
