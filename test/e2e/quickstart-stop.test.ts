// Stopping the quickstart: SIGTERM, SIGINT or SIGHUP to `scripts/quickstart.sh` or to
// `npm run quickstart` stops everything it started (the dev IdP, the gateway and the
// gateway's upstream servers), and ports 8080 and 8081 are free afterwards. The script
// runs as users run it, on its fixed ports, so this suite must not run next to another
// quickstart. The first case is the whole `npm run quickstart` (install check, build) in a
// copy of the checkout, because the build replaces dist/, which the other suites are
// running from; the others start at once with `--no-build` here.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './support/gateway.js';

const run = promisify(execFile);

const PORTS = [8080, 8081];

/** Every live process below `pid` (children, grandchildren...), from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z') continue;
    const list = children.get(Number(ppid)) ?? [];
    list.push(Number(entry));
    children.set(Number(ppid), list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() ?? -1) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Running, not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '(gone)';
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface Quickstart {
  child: ChildProcess;
  output: () => string;
}

const started: ChildProcess[] = [];

/** Starts the quickstart in its own process group and waits until it says it is ready. */
async function startQuickstart(
  command: string,
  args: string[],
  cwd: string,
  readyWithinMs: number,
): Promise<Quickstart> {
  for (const port of PORTS) {
    if (!(await portFree(port))) {
      throw new Error(`port ${port} is in use: is a quickstart running? This suite needs it free`);
    }
  }
  const child = spawn(command, args, {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  started.push(child);
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the quickstart was not ready in time:\n${text}`)),
      readyWithinMs,
    );
    const check = (): void => {
      if (text.includes('==> mcpgate is ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the quickstart exited (${String(code ?? signal)}):\n${text}`));
    });
  });
  return { child, output: () => text };
}

/**
 * Sends `signal` to `target`, then expects every process the quickstart had started to be
 * gone within 25 s (the script allows its children 20 s) and both ports free.
 */
async function expectStopsCompletely(
  quickstart: Quickstart,
  target: number,
  signal: NodeJS.Signals,
): Promise<void> {
  const root = quickstart.child.pid ?? -1;
  const tree = descendants(root);
  const commands = tree.map(commandOf).join('\n');
  // What the quickstart runs: the dev IdP, the gateway and its two stdio upstreams.
  expect(commands).toContain('dev-idp');
  expect(commands).toContain('start --config examples/quickstart/mcpgate.yaml');
  expect(commands).toContain('mcp-server-filesystem');
  expect(commands).toContain('mcp-server-everything');
  process.kill(target, signal);
  const deadline = Date.now() + 25_000;
  let left = [root, ...tree].filter(running);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = [root, ...tree].filter(running);
  }
  expect(left.map((pid) => `${pid} ${commandOf(pid)}`)).toEqual([]);
  for (const port of PORTS) expect(await portFree(port)).toBe(true);
  expect(quickstart.output()).toContain('==> stopping the gateway and the dev IdP');
}

let copy: string;

beforeAll(() => {
  // What a build needs, copied; the installed packages and the OPA CLI linked.
  copy = mkdtempSync(join(tmpdir(), 'mcpgate-quickstart-copy-'));
  for (const entry of [
    'bin',
    'dev',
    'src',
    'test',
    'scripts',
    'rego',
    'examples',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
  ]) {
    cpSync(join(ROOT, entry), join(copy, entry), {
      recursive: true,
      filter: (src) => !src.includes('.state'),
    });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  symlinkSync(join(ROOT, '.tools'), join(copy, '.tools'));
});

afterAll(() => {
  // Nothing should be left; if a case failed, end its process group (this suite made it).
  for (const child of started) {
    if (child.pid !== undefined && running(child.pid)) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  rmSync(copy, { recursive: true, force: true });
});

describe('stopping the quickstart', () => {
  it('npm run quickstart (install check, build, start), then SIGTERM to npm', async () => {
    const quickstart = await startQuickstart('npm', ['run', 'quickstart'], copy, 240_000);
    expect(quickstart.output()).toContain('==> building mcpgate and the example policy');
    const exited = new Promise((r) => quickstart.child.once('exit', (_c, s) => r(s)));
    await expectStopsCompletely(quickstart, quickstart.child.pid ?? -1, 'SIGTERM');
    // npm ends by the signal too, without an error of its own.
    expect(await exited).toBe('SIGTERM');
    expect(quickstart.output()).not.toContain('npm error');
  }, 300_000);

  it('prints a recipe for an admin token when it is ready, and the recipe works', async () => {
    const quickstart = await startQuickstart(
      'bash',
      ['scripts/quickstart.sh', '--no-build'],
      ROOT,
      60_000,
    );
    // The recipe's lines, as a user copies them into a second terminal.
    const recipe = quickstart
      .output()
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^(ADMIN_TOKEN=|node bin\/mcpgate\.js sessions )/.test(line));
    expect(recipe).toEqual([
      'ADMIN_TOKEN=$(node bin/mcpgate.js dev-token --user admin --roles mcpgate.admin)',
      'node bin/mcpgate.js sessions list --token "$ADMIN_TOKEN"',
    ]);
    const { stdout } = await run('bash', ['-c', recipe.join('\n')], { cwd: ROOT });
    expect(stdout).toMatch(/^\d+ session\(s\)\n$/m);
    await expectStopsCompletely(quickstart, quickstart.child.pid ?? -1, 'SIGTERM');
  }, 90_000);

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
    '%s to scripts/quickstart.sh',
    async (signal) => {
      const quickstart = await startQuickstart(
        'bash',
        ['scripts/quickstart.sh', '--no-build'],
        ROOT,
        60_000,
      );
      const exited = new Promise((r) => quickstart.child.once('exit', (_c, s) => r(s)));
      await expectStopsCompletely(quickstart, quickstart.child.pid ?? -1, signal);
      // The script ends by the signal it got, as a caller expects.
      expect(await exited).toBe(signal);
    },
    90_000,
  );

  it.each(['SIGINT', 'SIGHUP'] as const)(
    '%s to npm run quickstart',
    async (signal) => {
      // npm passes SIGINT on to the script; a SIGHUP ends npm alone, and the script,
      // seeing its parent gone, stops everything.
      const quickstart = await startQuickstart(
        'npm',
        ['run', 'quickstart', '--', '--no-build'],
        ROOT,
        60_000,
      );
      await expectStopsCompletely(quickstart, quickstart.child.pid ?? -1, signal);
    },
    90_000,
  );
});
