// The benchmark's upstream scripts (bench/upstream-server.mjs, bench/upstream-sdk-server.mjs)
// as child processes for tests: started on a free loopback port, resolved with the MCP URL
// they print, stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** The repository root (this file runs from dist/test/support/). */
const ROOT = resolve(import.meta.dirname, '../../..');

export interface UpstreamScript {
  /** Its MCP endpoint, http://127.0.0.1:PORT/mcp. */
  url: string;
  child: ChildProcess;
  stop(): void;
}

/** Starts `script` (relative to the repository root) with `env` added to the environment. */
export function startUpstreamScript(
  script: string,
  env: Record<string, string> = {},
): Promise<UpstreamScript> {
  const child = spawn(process.execPath, [join(ROOT, script)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  return new Promise((resolvePromise, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const url = (JSON.parse(line) as { listening: string }).listening;
        resolvePromise({ url, child, stop });
      } catch {
        // not the listening line
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited ${String(code)}`)));
  });
}
