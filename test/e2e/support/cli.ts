// The mcpgate CLI as a user runs it: `node bin/mcpgate.js ...` in its own process, with the
// exit code, stdout and stderr kept whether it succeeds or fails.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BIN, ROOT } from './gateway.js';

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The working directory (the repository root unless given). */
  cwd?: string;
  /** The environment (this process's unless given). */
  env?: NodeJS.ProcessEnv;
}

export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
}
