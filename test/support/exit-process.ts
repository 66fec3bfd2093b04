// Stopping a child process a test started (redis-server, prometheus, an OTLP receiver).
import type { ChildProcess } from 'node:child_process';

/** Sends the signal and resolves when the process has exited (at once if it had). */
export async function exitProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT'); // a paused process cannot handle SIGTERM
  child.kill(signal);
  await exited;
}
