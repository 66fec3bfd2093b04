// Runs a bench worker script (the load generator, the decision-latency worker) as its own
// Node process, pinned to a core, with a job as its argument; resolves with the object it
// prints on its `RESULT ` line. The process is killed if it outlives its time limit.
import { join } from 'node:path';
import { setTimeout, clearTimeout } from 'node:timers';
import { ROOT } from './servers.mjs';
import { pinning, spawnPinned, tailLines } from './procs.mjs';

export function runWorker(script, job, { core = pinning.clientCore, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnPinned(core, process.execPath, [join(ROOT, script), JSON.stringify(job)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let result;
    const stderr = tailLines(child.stderr, 40);
    tailLines(child.stdout, 5, (line) => {
      if (line.startsWith('RESULT ')) result = JSON.parse(line.slice('RESULT '.length));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && result !== undefined) resolve(result);
      else {
        reject(
          new Error(
            `${script} failed (${String(code ?? signal)}${signal === 'SIGKILL' ? `, killed after ${timeoutMs} ms` : ''}):\n${stderr.join('\n')}`,
          ),
        );
      }
    });
  });
}

/** A generous upper bound on how long a calls job takes, for its kill timer. */
export function callsJobTimeout(job) {
  let s = 60 + (job.sessions ?? 1) * 0.2 + (job.warmCalls ?? 0) * (job.sessions ?? 1) * 0.01;
  // Each phase: its length, a drain of up to one call timeout, and slack.
  const drainS = (job.callTimeoutMs ?? 10_000) / 1000 + 5;
  for (const phase of job.phases ?? []) s += (phase.warmupS ?? 0) + phase.durationS + drainS + 10;
  return Math.round(s * 1000);
}

const ECHO_TEXT = 'hello from the mcpgate bench';

/**
 * A calls job for the load generator: tools/call of the bench upstream's echo through the
 * gateway at `url`, with the lean client, every answer checked for the echoed text.
 * `overrides` gives the sessions, warm-up calls, phases and watched processes.
 */
export function echoCallsJob(url, token, overrides) {
  return {
    mode: 'calls',
    client: 'lean',
    url,
    token,
    tool: 'everything__echo',
    args: { text: ECHO_TEXT },
    expectText: ECHO_TEXT,
    connectConcurrency: 8,
    callTimeoutMs: 10_000,
    maxOutstanding: 2000,
    ...overrides,
  };
}
