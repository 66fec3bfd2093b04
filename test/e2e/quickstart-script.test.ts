// The quickstart script as users run it, on its fixed ports 8080 and 8081 (so everything
// that needs those ports is in this one suite, which must not run next to another
// quickstart):
// - the README's commands, run as written against it, with the key parts of each answer
//   checked, so the README stays true;
// - stopping it: SIGTERM, SIGINT or SIGHUP to `scripts/quickstart.sh` or to
//   `npm run quickstart` stops everything it started (the dev IdP, the gateway and the
//   gateway's upstream servers), and ports 8080 and 8081 are free afterwards. The first
//   case is the whole `npm run quickstart` (install check, build) in a copy of the
//   checkout, because the build replaces dist/, which the other suites are running from;
//   the others start at once with `--no-build` here.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { BIN, ROOT } from './support/gateway.js';

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

// --- the README, run as written ---------------------------------------------------------

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text of the README section under `## title`, up to the next `## `. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`README has no section "${title}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

/** The fenced code blocks of a section in a language, in order. */
function blocks(text: string, language: string): string[] {
  return [...text.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map(
    (m) => m[1] ?? '',
  );
}

/** The commands of a shell block: continuation lines joined, blank lines and comments left out. */
function commands(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The one block of a section that holds `text`. */
function blockWith(text: string, sectionText: string): string {
  const found = blocks(sectionText, 'sh').filter((b) => b.includes(text));
  if (found.length !== 1) throw new Error(`expected one README sh block with "${text}"`);
  return found[0] ?? '';
}

interface Shell {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Runs one README command in bash; `VAR=$(...)` sets VAR for the commands after it. */
async function sh(
  shell: Shell,
  command: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const assignment = /^([A-Z_]+)=\$\((.*)\)$/.exec(command);
  const script = assignment ? (assignment[2] ?? '') : command;
  let result: { code: number; stdout: string; stderr: string };
  try {
    const { stdout, stderr } = await run('bash', ['-c', script], {
      cwd: shell.cwd,
      env: shell.env,
      // A safety stop, not a speed check: the README's `policy test` runs the whole opa test
      // suite and the wasm cases, which took over 120 s at a load average of 24.
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    result = { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    result = {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
  if (assignment) {
    if (result.code !== 0) throw new Error(`${command} failed: ${result.stderr}`);
    shell.env[assignment[1] ?? ''] = result.stdout.trim();
  }
  return result;
}

/** What the README says to run in a checkout (`node bin/mcpgate.js`), run from `cwd` instead. */
function fromCheckout(command: string): string {
  return command.replaceAll('node bin/mcpgate.js', `node ${BIN}`);
}

/**
 * The text of the tool result the Inspector CLI prints: pretty JSON, closed by a "}" at the
 * start of a line (after a tool error it adds a JSON line of its own on that same line).
 */
function toolText(stdout: string): string {
  const start = stdout.indexOf('{');
  const end = stdout.indexOf('\n}', start);
  const result = JSON.parse(stdout.slice(start, end + 2)) as {
    content?: Array<{ text?: string }>;
  };
  return (result.content ?? []).map((c) => c.text ?? '').join('\n');
}

describe('the README, run against the quickstart', () => {
  let quickstart: Quickstart;
  const decisionLog = join(ROOT, 'examples/quickstart/.state/decisions.log');
  let logBefore = 0;
  const shell: Shell = { env: {}, cwd: ROOT };

  beforeAll(async () => {
    logBefore = existsSync(decisionLog) ? readFileSync(decisionLog).length : 0;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: mkdtempSync(join(tmpdir(), 'mcpgate-readme-home-')),
      npm_config_update_notifier: 'false',
    };
    // As the README's note says: no proxy variables for the Inspector.
    for (const key of [
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'http_proxy',
      'https_proxy',
      'ALL_PROXY',
      'all_proxy',
    ]) {
      delete env[key];
    }
    shell.env = env;
    quickstart = await startQuickstart(
      'bash',
      ['scripts/quickstart.sh', '--no-build'],
      ROOT,
      60_000,
    );
  }, 90_000);

  afterAll(async () => {
    const child = quickstart.child;
    if (child.pid === undefined || !running(child.pid)) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGTERM');
    await exited;
  });

  it('Quickstart: a token, then the three Inspector calls answer as the README says', async () => {
    const text = section('Quickstart');
    await sh(shell, commands(blockWith('dev-token --user alice', text))[0] ?? '');
    expect(shell.env.TOKEN).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    const [list, allowed, denied] = commands(blockWith('@modelcontextprotocol/inspector', text));
    const tools = await sh(shell, list ?? '');
    expect(tools.code).toBe(0);
    expect(tools.stdout).toContain('"name": "filesystem__read_text_file"');
    expect(tools.stdout).not.toContain('filesystem__write_file');
    // "The first call returns the file."
    const file = await sh(shell, allowed ?? '');
    expect(file.code).toBe(0);
    expect(toolText(file.stdout)).toBe(
      readFileSync(join(ROOT, 'examples/quickstart/demo/src/app.ts'), 'utf8'),
    );
    // "The second returns a tool error, `Denied by policy: ... ...` (... exits non-zero)."
    const refused = await sh(shell, denied ?? '');
    expect(refused.code).not.toBe(0);
    const quoted = /The second returns a tool error,\s+`([^`]*)`/.exec(text)?.[1] ?? '';
    expect(quoted.endsWith(' ...')).toBe(true);
    expect(toolText(refused.stdout).startsWith(quoted.slice(0, -' ...'.length))).toBe(true);
  });

  it('Quickstart: every decision is in the decision log the README names', () => {
    expect(section('Quickstart')).toContain('`examples/quickstart/.state/decisions.log`');
    const lines = readFileSync(decisionLog, 'utf8').slice(logBefore).trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('decision_id');
  });

  it('a refused token: the Inspector hides the reason as the README says, mcpgate doctor shows it', async () => {
    const text = section('Quickstart');
    const [list] = commands(blockWith('@modelcontextprotocol/inspector', text));
    const garbage: Shell = { cwd: ROOT, env: { ...shell.env, TOKEN: 'garbage' } };
    const inspector = await sh(garbage, list ?? '');
    const hidden = /reports every 401\s+as `([^`]*) \.\.\.` and exits (\d+)/.exec(text);
    expect(inspector.code).toBe(Number(hidden?.[2]));
    expect(inspector.stdout + inspector.stderr).toContain(hidden?.[1] ?? '(none)');
    const doctor = commands(blockWith('doctor', text))[0] ?? '';
    const refused = await sh(garbage, doctor);
    const said =
      /refused\s+and why \(`([^`]*)`\)/.exec(text)?.[1]?.replace(/\s+/g, ' ') ?? '(none)';
    expect(refused.stderr.trim()).toBe(said);
    const accepted = await sh(shell, doctor);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain('token: accepted');
    expect(accepted.stdout).toMatch(/code-review +may open/);
    expect(accepted.stdout).toMatch(/documentation +may open/);
  });

  it('Quickstart: the admin recipe lists the sessions, and the README curl ends one', async () => {
    const text = section('Quickstart');
    const [admin, list] = commands(blockWith('ADMIN_TOKEN=', text));
    await sh(shell, admin ?? '');
    const listed = await sh(shell, list ?? '');
    expect(listed.code).toBe(0);
    // The Inspector runs above left their sessions open, as the README says.
    expect(listed.stdout).toMatch(/ idle \d+s/);
    const count = Number(/^(\d+) session\(s\)$/m.exec(listed.stdout)?.[1]);
    expect(count).toBeGreaterThanOrEqual(3);
    const id = listed.stdout.split('\n')[0]?.split('  ')[0] ?? '';
    const curl = (commands(blockWith('curl -X DELETE', text))[0] ?? '').replace('<id>', id);
    const deleted = await sh(shell, `${curl} -s -o /dev/null -w '%{http_code}'`);
    expect(deleted.stdout).toBe('200');
    const after = await sh(shell, list ?? '');
    expect(after.stdout).not.toContain(id);
    expect(after.stdout).toContain(`${count - 1} session(s)`);
  });

  it('Write a policy: policy new, the profile shown, check, test, build, eval and replay', async () => {
    const text = section('Write a policy');
    // In a scratch copy: these commands write rego/ and wasm/.
    const scratch = mkdtempSync(join(tmpdir(), 'mcpgate-readme-policy-'));
    cpSync(join(ROOT, 'rego'), join(scratch, 'rego'), { recursive: true });
    mkdirSync(join(scratch, 'examples/quickstart/.state'), { recursive: true });
    writeFileSync(
      join(scratch, 'examples/quickstart/.state/decisions.log'),
      readFileSync(decisionLog, 'utf8').slice(logBefore),
    );
    const here: Shell = { cwd: scratch, env: shell.env };
    const scaffold = await sh(here, fromCheckout(commands(blockWith('policy new', text))[0] ?? ''));
    expect(scaffold.code).toBe(0);
    expect(scaffold.stdout).toContain('created rego/profiles/echo-demo/data.yaml');
    // The profile the README shows is the one written.
    const shown = blocks(text, 'yaml')[0] ?? '';
    expect(parse(readFileSync(join(scratch, 'rego/profiles/echo-demo/data.yaml'), 'utf8'))).toEqual(
      parse(shown),
    );
    const [check, test, build, evalCall, replay] = commands(blockWith('policy check', text)).map(
      fromCheckout,
    );
    expect((await sh(here, check ?? '')).code).toBe(0);
    const tested = await sh(here, test ?? '');
    expect(tested.code).toBe(0);
    expect(tested.stdout).toMatch(
      /wasm cases \(Node, compared with the Go evaluator\): \d+ passed, 0 failed/,
    );
    expect((await sh(here, build ?? '')).stdout).toMatch(
      /^built wasm\/bundle\.tar\.gz \(revision rego-/,
    );
    const evaluated = await sh(here, evalCall ?? '');
    expect((JSON.parse(evaluated.stdout) as { result: { allow: boolean } }).result.allow).toBe(
      true,
    );
    // The quickstart's decisions, replayed with the policy that only adds echo-demo: nothing changes.
    const replayed = await sh(here, replay ?? '');
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toMatch(
      /^replayed \d+ of \d+ lines against rego-\S+ .*: \d+ unchanged, 0 changed;/m,
    );
    rmSync(scratch, { recursive: true, force: true });
  }, 600_000);

  it('Commands: the list is what mcpgate help prints', async () => {
    const listed = blocks(section('Commands'), '')[0] ?? '';
    const help = await run(process.execPath, [BIN, 'help']);
    expect(listed).toBe(help.stdout);
  });
});
