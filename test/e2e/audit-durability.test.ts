// Audit durability through the real gateway process, with the decision log on a tiny tmpfs
// that the test fills up (a real ENOSPC, partial writes included), SIGTERM and SIGKILL:
// nothing is served before its decision line is accepted; at SIGTERM what cannot be written
// goes to a spool file, the exit is non-zero and names it, and the next start delivers it;
// SIGKILL loses only lines of calls that were never answered. `mcpgate audit verify` checks
// the chain of what is left each time. The full-disk tests need `mount -t tmpfs` (root):
// without it they are skipped with a message saying so.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  callTool,
  connectClient,
  freshRequest,
  INITIALIZE,
  rawPost,
  textOf,
} from './support/client.js';
import {
  BIN,
  decisionLogWritten,
  scratchDir,
  startGatewayProcess,
  type GatewayOptions,
  type GatewayProcess,
} from './support/gateway.js';
import { useAllowAll } from './support/allow-all.js';
import { labServer } from './support/policies.js';

const allowAll = useAllowAll();

/** Why a tmpfs cannot be mounted here, or undefined when it can. */
function tmpfsProblem(): string | undefined {
  const probe = mkdtempSync(join(tmpdir(), 'mcpgate-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `mount -t tmpfs is refused here (${(err as Error).message.split('\n')[0]}); run the tests as root to check a full audit disk`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const TMPFS_PROBLEM = tmpfsProblem();
if (TMPFS_PROBLEM !== undefined) {
  console.warn(`SKIPPED: the full-disk decision-log tests: ${TMPFS_PROBLEM}`);
}
const withTmpfs = TMPFS_PROBLEM === undefined ? it : it.skip;

/** A 64 KiB tmpfs at dir/audit: its path, how to make it larger, how to unmount it. */
function tinyDisk(dir: string): { path: string; grow: () => void; unmount: () => void } {
  const path = join(dir, 'audit');
  mkdirSync(path);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', path]);
  return {
    path,
    grow: () => execFileSync('mount', ['-o', 'remount,size=1m', path]),
    unmount: () => execFileSync('umount', ['-l', path]),
  };
}

/** Fills a disk to the last byte; returns the filler file (remove it to make room). */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(512, 0x2e);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

function exited(gateway: GatewayProcess): Promise<number | null> {
  const { child } = gateway;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => gateway.child.once('exit', (code) => resolve(code)));
}

/** Everything the gateway writes on stderr from now on. */
function stderrOf(gateway: GatewayProcess): () => string {
  let text = '';
  gateway.child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  return () => text;
}

/** `mcpgate audit verify FILES`: its exit status and output. */
function verify(...files: string[]): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, [BIN, 'audit', 'verify', ...files], {
    encoding: 'utf8',
  });
  return { status: run.status, out: run.stdout + run.stderr };
}

/**
 * The problems verify reported, but for the one line a full disk may cut short: line
 * `cutLine` of the file, incomplete or not JSON.
 */
function problemsOf(out: string, cutLine: number): string[] {
  return out
    .split('\n')
    .filter((l) => /:\d+: (?!note: )/.test(l))
    .filter((l) => !new RegExp(`:${cutLine}: (incomplete line|not a JSON line)`).test(l));
}

interface Event {
  input: { action: string; arguments?: { text?: string; ms?: number } };
  result: { allow?: boolean };
}

/** The events of a decision-log text; a line cut short by the full disk is not one. */
function events(text: string): Event[] {
  return text.split('\n').flatMap((l) => {
    try {
      const parsed = JSON.parse(l) as Event | { mcpgate_spool: unknown };
      return 'input' in parsed ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

/** The texts of the tools/call decisions in a decision-log text. */
function callTexts(text: string): string[] {
  return events(text)
    .filter((e) => e.input.action === 'tools/call')
    .map((e) => e.input.arguments?.text ?? '');
}

/** Calls echo; resolves with the text when it was served, undefined when it was refused. */
async function served(client: Client, text: string): Promise<string | undefined> {
  try {
    const result = await callTool(client, 'lab__echo', { text });
    if (result.isError) {
      expect(textOf(result)).toMatch(/decision log .*(could not write|cannot be written)/);
      return undefined;
    }
    expect(textOf(result)).toContain(`echo:${text}:`);
    return text;
  } catch (err) {
    expect((err as Error).message).toMatch(/decision log|fail closed/);
    return undefined;
  }
}

function gatewayOptions(dir: string, audit: Record<string, unknown>): GatewayOptions {
  return {
    dir,
    ...allowAll,
    upstreams: { lab: labServer() },
    extra: { audit: { spool_dir: join(dir, 'spool'), ...audit } },
  };
}

describe('decision log on a full disk', () => {
  withTmpfs(
    'SIGTERM: the lines of served calls go to a spool file, the exit is 1 and names it, the next start delivers them',
    async () => {
      const dir = scratchDir();
      const disk = tinyDisk(dir);
      const file = join(disk.path, 'decisions.jsonl');
      // accept: queued: calls are served while their lines wait in memory, as the issue had it.
      const options = gatewayOptions(dir, {
        destinations: [{ type: 'file', path: file, accept: 'queued', max_buffer_bytes: 65536 }],
      });
      let gateway: GatewayProcess | undefined;
      try {
        gateway = await startGatewayProcess(options);
        const stderr = stderrOf(gateway);
        const client = await connectClient(
          gateway.mcpUrl,
          await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
        );
        await decisionLogWritten(gateway.url, gateway.child);
        const filler = fill(disk.path);
        const answered: string[] = [];
        for (let i = 0; i < 200; i++) {
          const text = await served(client, `full-${i}-${'x'.repeat(600)}`);
          if (text === undefined) break;
          answered.push(text);
        }
        // Served until max_buffer_bytes waited, then refused before the policy.
        expect(answered.length).toBeGreaterThan(10);
        expect(answered.length).toBeLessThan(200);

        gateway.child.kill('SIGTERM');
        expect(await exited(gateway)).toBe(1);
        await client.close().catch(() => undefined);
        const message =
          /mcpgate: (\d+) decision-log lines could not be written to file:(\S+) \(ENOSPC: [^)]*\) and were saved in (\S+\.spool);/.exec(
            stderr(),
          );
        expect(message?.[2]).toBe(file);
        const spool = message?.[3] as string;
        const spooled = readFileSync(spool, 'utf8');
        // Every answered call has its line: in the file or in the spool file.
        const recorded = [...callTexts(readFileSync(file, 'utf8')), ...callTexts(spooled)];
        expect(recorded).toEqual(answered);
        expect(Number(message?.[1])).toBe(spooled.trim().split('\n').length - 1);
        // The file and the spool file are one chain (a line cut short by the full disk is
        // whole in the spool file and reported in the file until it is delivered).
        const both = verify(file, spool);
        expect(both.out).toContain('the chain is intact');
        expect(both.status).toBe(0);

        // Still full: the next start refuses to begin until the spool file can be delivered.
        const refused = spawnSync(
          process.execPath,
          [BIN, 'start', '--config', join(dir, 'mcpgate.yaml')],
          {
            encoding: 'utf8',
            timeout: 30_000,
          },
        );
        expect(refused.status).toBe(1);
        expect(refused.stderr).toContain(
          `mcpgate: ${spool} holds ${message?.[1]} decision-log lines for file:${file} that could not be delivered (ENOSPC`,
        );

        // Room again (the operator frees space): the next start delivers the spool file first.
        unlinkSync(filler);
        disk.grow();
        gateway = await startGatewayProcess(options);
        const delivered = gateway.logs.find(
          (l) =>
            l.message === 'decision log lines delivered from a spool file left by an earlier run',
        );
        expect(delivered).toMatchObject({ destination: `file:${file}`, spool });
        expect(readdirSync(join(dir, 'spool'))).toEqual([]);
        const after = await connectClient(
          gateway.mcpUrl,
          await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
        );
        expect(await served(after, 'after-restart')).toBe('after-restart');
        await after.close();
        await gateway.stop();
        expect(await exited(gateway)).toBe(0);
        expect(callTexts(readFileSync(file, 'utf8'))).toEqual([...answered, 'after-restart']);
        const whole = verify(file);
        expect(whole.out).toContain('the chain is intact');
        expect(whole.status).toBe(0);
      } finally {
        await gateway?.stop();
        disk.unmount();
      }
    },
  );

  withTmpfs(
    'accept: written: no call is served before its line is written; SIGKILL then loses only lines of calls never served',
    async () => {
      const dir = scratchDir();
      const disk = tinyDisk(dir);
      const file = join(disk.path, 'decisions.jsonl');
      const options = gatewayOptions(dir, { destinations: [{ type: 'file', path: file }] });
      let gateway: GatewayProcess | undefined;
      try {
        gateway = await startGatewayProcess(options);
        const client = await connectClient(
          gateway.mcpUrl,
          await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
        );
        const before: string[] = [];
        for (let i = 0; i < 3; i++) before.push((await served(client, `before-${i}`)) as string);
        const filler = fill(disk.path);
        // Concurrent calls on a full disk: each waits for its line, whose write fails.
        const outcomes = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            served(client, `on-full-disk-${i}-${'y'.repeat(300)}`),
          ),
        );
        const servedOnFullDisk = outcomes.filter((t): t is string => t !== undefined);
        // A call is served only if its line got out (the last page of the file may take one).
        expect(servedOnFullDisk.length).toBeLessThan(outcomes.length);
        // Refused at the edge now: the destination cannot be written.
        const open = await rawPost(gateway.mcpUrl, INITIALIZE, {
          authorization: `Bearer ${await allowAll.issuer.mint({ aud: gateway.mcpUrl })}`,
        });
        expect(open.status).toBe(503);
        expect(open.text).toContain('cannot be written (ENOSPC');

        gateway.child.kill('SIGKILL');
        await exited(gateway);
        await client.close().catch(() => undefined);
        unlinkSync(filler);
        const text = readFileSync(file, 'utf8');
        // Every served call is in the file; what SIGKILL lost was never served.
        const inFile = callTexts(text);
        for (const t of [...before, ...servedOnFullDisk]) expect(inFile).toContain(t);
        // The chain is intact up to where the full disk cut a line short, if it did.
        expect(problemsOf(verify(file).out, text.split('\n').length)).toEqual([]);

        // The next start closes an incomplete last line and continues the chain after it.
        gateway = await startGatewayProcess(options);
        const after = await connectClient(
          gateway.mcpUrl,
          await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
        );
        expect(await served(after, 'after-kill')).toBe('after-kill');
        await after.close();
        await gateway.stop();
        // The cut line (if any) stays a line of its own, reported; the chain goes on after it.
        const final = verify(file).out;
        expect(problemsOf(final, text.split('\n').length)).toEqual([]);
        expect(final).toMatch(/checked \d+ lines in 1 file\(s\)/);
      } finally {
        await gateway?.stop();
        disk.unmount();
      }
    },
  );
});

describe('decision log at shutdown and when killed', () => {
  it('SIGTERM: a call in progress finishes and is recorded; new requests get 503; the exit is 0', async () => {
    const dir = scratchDir();
    const gateway = await startGatewayProcess({
      dir,
      ...allowAll,
      upstreams: { lab: labServer() },
    });
    try {
      const token = await allowAll.issuer.mint({ aud: gateway.mcpUrl });
      const client = await connectClient(gateway.mcpUrl, token);
      const slow = callTool(client, 'lab__slow', { ms: 1500 });
      // Its line is written before it is forwarded: once it is in the file, the call is at the upstream.
      for (let i = 0; !readFileSync(gateway.auditFile, 'utf8').includes('"ms":1500'); i++) {
        if (i > 2000) throw new Error('the call did not reach the upstream');
        await new Promise((r) => setTimeout(r, 5));
      }
      gateway.child.kill('SIGTERM');
      // Fresh connections: the drain closes idle pooled ones (see freshRequest).
      for (let i = 0; (await freshRequest(`${gateway.url}/readyz`)).status !== 503; i++) {
        if (i > 2000) throw new Error('the gateway did not begin to shut down');
        await new Promise((r) => setTimeout(r, 5));
      }
      const refused = await freshRequest(gateway.mcpUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${token}`,
        },
        body: INITIALIZE,
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('connection')).toBe('close');
      expect(JSON.parse(refused.text)).toMatchObject({
        error: {
          code: -32001,
          message: 'the gateway is shutting down; retry the request (another replica may serve it)',
        },
      });
      const readyz = await freshRequest(`${gateway.url}/readyz`);
      expect(readyz.status).toBe(503);
      expect(JSON.parse(readyz.text)).toMatchObject({
        ready: false,
        shutting_down: { requests_in_progress: 1 },
      });
      expect(textOf(await slow)).toBe('slow:1500:done');
      expect(await exited(gateway)).toBe(0);
      await client.close().catch(() => undefined);
      const calls = events(readFileSync(gateway.auditFile, 'utf8')).filter(
        (e) => e.input.action === 'tools/call',
      );
      expect(calls.map((e) => [e.input.arguments, e.result.allow])).toEqual([[{ ms: 1500 }, true]]);
      expect(verify(gateway.auditFile).status).toBe(0);
    } finally {
      await gateway.stop();
    }
  });

  it('SIGKILL under load: every answered call has its line in the file, and the chain is intact', async () => {
    const gateway = await startGatewayProcess({ ...allowAll, upstreams: { lab: labServer() } });
    try {
      const client = await connectClient(
        gateway.mcpUrl,
        await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
      );
      const answered: string[] = [];
      let killed = false;
      let failure: unknown;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; !killed; i++) {
          try {
            const text = `load-${w}-${i}`;
            const result = await callTool(client, 'lab__echo', { text });
            if (!killed && textOf(result).includes(`echo:${text}:`)) answered.push(text);
          } catch (err) {
            if (!killed) failure = err; // before the kill, a failure is the test's
            return;
          }
        }
      };
      const workers = Array.from({ length: 8 }, (_, w) => worker(w));
      while (answered.length < 150 && failure === undefined) {
        await new Promise((r) => setTimeout(r, 2));
      }
      expect(failure).toBeUndefined();
      // Killed while calls are in flight: they were never answered, so they may be lost.
      gateway.child.kill('SIGKILL');
      const counted = [...answered];
      killed = true;
      await exited(gateway);
      await Promise.all(workers);
      await client.close().catch(() => undefined);
      const inFile = new Set(callTexts(readFileSync(gateway.auditFile, 'utf8')));
      expect(counted.filter((t) => !inFile.has(t))).toEqual([]);
      const checked = verify(gateway.auditFile);
      expect(checked.out).toContain('the chain is intact');
    } finally {
      await gateway.stop();
    }
  });
});

afterAll(() => {
  // Nothing mounted is left behind: each test unmounts its own disk in `finally`.
  const mounts = readFileSync('/proc/mounts', 'utf8');
  expect(mounts).not.toMatch(/mcpgate-e2e-[^ ]*\/audit tmpfs/);
});
