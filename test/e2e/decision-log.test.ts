// The decision log through the real gateway process: its file is a FIFO the test reads (or
// does not read: storage that stalls). While max_buffer_bytes wait, requests are refused
// before the policy (503, fail closed) and /readyz says why; once the test reads, the gateway
// serves again, and at SIGTERM every decision of every answered request is in the log.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { callTool, connectClient, INITIALIZE, rawPost, textOf } from './support/client.js';
import { scratchDir, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { useAllowAll } from './support/allow-all.js';
import { labServer } from './support/policies.js';

const allowAll = useAllowAll();

/** Polls `condition` every 5 ms until it holds; fails with `what` after 30 s. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Event {
  decision_id: string;
  input: { action: string; arguments?: { text?: string } };
}

interface Readiness {
  ready: boolean;
  decision_log: {
    writers: Array<{ destination: string; refusing: boolean; buffered_bytes: number }>;
  };
}

async function readiness(gateway: GatewayProcess): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${gateway.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

describe('decision log: storage that stalls', () => {
  it('refuses before the policy at max_buffer_bytes, serves again once written, loses nothing', async () => {
    const dir = scratchDir();
    const fifo = join(dir, 'decisions.fifo');
    execFileSync('mkfifo', [fifo]);
    // Opened before the gateway opens it for writing (which waits for a reader).
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const received: Buffer[] = [];
    const chunk = Buffer.alloc(1 << 16);
    const read = (): void => {
      for (;;) {
        let n: number;
        try {
          n = readSync(reader, chunk, 0, chunk.length, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
          throw err;
        }
        if (n === 0) return;
        received.push(Buffer.from(chunk.subarray(0, n)));
      }
    };
    const gateway = await startGatewayProcess({
      dir,
      ...allowAll,
      upstreams: { lab: labServer() },
      // accept: queued: calls go on while their lines wait (the bound is what is tested here;
      // with accept: written they would wait for the FIFO: audit-durability.test.ts).
      extra: {
        audit: {
          destinations: [{ type: 'file', path: fifo, max_buffer_bytes: 65536, accept: 'queued' }],
        },
      },
    });
    try {
      const token = await allowAll.issuer.mint({ aud: gateway.mcpUrl });
      const client = await connectClient(gateway.mcpUrl, token);
      // The test does not read: the pipe fills, the write in flight waits, lines queue up.
      const answered: string[] = [];
      let refused: Error | undefined;
      for (let i = 0; i < 2000 && refused === undefined; i++) {
        const text = `call-${i}-${'p'.repeat(2000)}`;
        try {
          expect(textOf(await callTool(client, 'lab__echo', { text }))).toContain(`call-${i}-`);
          answered.push(text);
        } catch (err) {
          refused = err as Error;
        }
      }
      expect(refused?.message).toContain('"code":-32001');
      expect(refused?.message).toContain(`the decision log (file:${fifo}) has`);
      expect(refused?.message).toContain('(max_buffer_bytes 65536): storage is slower');
      expect(refused?.message).toContain('the request was refused (fail closed)');
      expect(answered.length).toBeGreaterThan(0);

      const full = await readiness(gateway);
      expect(full.status).toBe(503);
      expect(full.body.ready).toBe(false);
      expect(full.body.decision_log.writers[0]).toMatchObject({
        destination: `file:${fifo}`,
        refusing: true,
      });
      const open = await rawPost(gateway.mcpUrl, INITIALIZE, { authorization: `Bearer ${token}` });
      expect(open.status).toBe(503);
      expect(open.headers.get('retry-after')).toBe('2');
      expect(JSON.parse(open.text)).toMatchObject({ error: { code: -32001 } });
      const admin = await fetch(`${gateway.url}/admin/sessions`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(admin.status).toBe(503);
      expect(await admin.json()).toMatchObject({ error: 'decision_log_unavailable' });

      // Storage catches up: the gateway is ready and serves again.
      await until(async () => {
        read();
        return (await readiness(gateway)).status === 200;
      }, 'the gateway to be ready once the FIFO is read');
      const again = `after-${'q'.repeat(100)}`;
      expect(textOf(await callTool(client, 'lab__echo', { text: again }))).toContain('after-');
      answered.push(again);
      await client.close();

      // SIGTERM while the test keeps reading: the rest is written before the process exits.
      let exited = false;
      const stopped = gateway.stop().then(() => (exited = true));
      await until(() => {
        read();
        return exited;
      }, 'the gateway to exit');
      await stopped;
      read();
      const events = Buffer.concat(received)
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Event);
      // Every answered call has its decision, in order; the refused requests have none.
      const calls = events.filter((e) => e.input.action === 'tools/call');
      expect(calls.map((e) => e.input.arguments?.text)).toEqual(answered);
      expect(new Set(events.map((e) => e.decision_id)).size).toBe(events.length);
      expect(events.filter((e) => e.input.action === 'session/open')).toHaveLength(1);
    } finally {
      await gateway.stop();
      closeSync(reader);
    }
  });
});

describe('decision log: shutdown', () => {
  let gateway: GatewayProcess;
  beforeAll(async () => {
    gateway = await startGatewayProcess({ ...allowAll, upstreams: { lab: labServer() } });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('has every decision of every answered request in the file once SIGTERM ends the gateway', async () => {
    const client = await connectClient(
      gateway.mcpUrl,
      await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
    );
    const texts = Array.from({ length: 60 }, (_, i) => `sigterm-${i}`);
    // Concurrent calls: several decisions per event-loop turn, several per write.
    await Promise.all(texts.map((text) => callTool(client, 'lab__echo', { text })));
    await client.close();
    await gateway.stop();
    const events = readFileSync(gateway.auditFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Event);
    const calls = events.filter((e) => e.input.action === 'tools/call');
    expect(calls.map((e) => e.input.arguments?.text).sort()).toEqual([...texts].sort());
    expect(events.filter((e) => e.input.action === 'session/open')).toHaveLength(1);
  });
});
