// Uploads to an OPA-compatible decision-log service, against a real local HTTP receiver
// that gunzips and records every batch. Waits are polls with a bound, never timings.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ServiceDestination } from '../../src/config/policy.js';
import { createDecisionLog } from '../../src/audit/decision-log.js';
import { DecisionLogUploader } from '../../src/audit/upload.js';
import { DECISION_ENTRYPOINT } from '../../src/policy/engine.js';
import { capturingLogger } from '../support/logger.js';

interface Request {
  status: number;
  headers: IncomingHttpHeaders;
  events: unknown[];
}

/** Answers with the queued statuses (then 200) and records every request it got. */
class Receiver {
  readonly requests: Request[] = [];
  statuses: number[] = [];
  /** Never answer (a service that hangs). */
  hang = false;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.hang) return;
        const status = this.statuses.shift() ?? 200;
        const events = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as unknown[];
        this.requests.push({ status, headers: req.headers, events });
        res.writeHead(status).end();
      });
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/logs`;
  }

  /** Event batches the receiver accepted, in arrival order. */
  accepted(): unknown[][] {
    return this.requests.filter((r) => r.status === 200).map((r) => r.events);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const HOUR_MS = 3_600_000;

function destination(url: string, overrides: Partial<ServiceDestination> = {}): ServiceDestination {
  return {
    type: 'service',
    url,
    headers: {},
    batchMaxEvents: 100,
    flushIntervalMs: HOUR_MS,
    maxBufferEvents: 1000,
    retry: { initialDelayMs: 10, maxDelayMs: 40 },
    ...overrides,
  };
}

const ev = (n: number): string => JSON.stringify({ n });
const ns = (batches: unknown[][]): number[][] =>
  batches.map((b) => b.map((e) => (e as { n: number }).n));

let receiver: Receiver;
let url: string;
let messages: string[];
let uploaders: DecisionLogUploader[];

function uploader(
  overrides: Partial<ServiceDestination> = {},
  closeTimeoutMs = 2000,
): DecisionLogUploader {
  const u = new DecisionLogUploader(destination(url, overrides), {
    logger: capturingLogger(messages),
    closeTimeoutMs,
  });
  uploaders.push(u);
  return u;
}

beforeEach(async () => {
  receiver = new Receiver();
  url = await receiver.start();
  messages = [];
  uploaders = [];
});

afterEach(async () => {
  await Promise.all(uploaders.map((u) => u.close()));
  await receiver.close();
  delete process.env.MCPGATE_TEST_LOG_TENANT;
});

describe('decision log upload', () => {
  it('uploads a batch as soon as batchMaxEvents are waiting: a gzipped JSON array', async () => {
    const u = uploader({
      batchMaxEvents: 3,
      headers: { Authorization: { kind: 'literal', value: 'Bearer t0ken' } },
    });
    for (let i = 0; i < 7; i++) u.push(ev(i));
    // push() never does the upload on the caller's stack.
    expect(receiver.requests).toHaveLength(0);
    await waitFor('two batches', () => u.stats().sent === 6);
    expect(ns(receiver.accepted())).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(u.stats()).toEqual({ sent: 6, dropped_buffer: 0, failed_attempts: 0, buffered: 1 });
    const headers = receiver.requests[0]?.headers;
    expect(headers?.['content-encoding']).toBe('gzip');
    expect(headers?.['content-type']).toBe('application/json');
    expect(headers?.authorization).toBe('Bearer t0ken');
    expect(receiver.requests[0]?.events).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
  });

  it('uploads what is waiting every flush interval, reading header secrets at each request', async () => {
    process.env.MCPGATE_TEST_LOG_TENANT = 'tenant-1';
    const u = uploader({
      flushIntervalMs: 20,
      headers: { 'X-Tenant': { kind: 'env', name: 'MCPGATE_TEST_LOG_TENANT' } },
    });
    u.push(ev(0));
    u.push(ev(1));
    await waitFor('the first batch', () => receiver.requests.length === 1);
    process.env.MCPGATE_TEST_LOG_TENANT = 'tenant-2';
    u.push(ev(2));
    await waitFor('the second batch', () => u.stats().sent === 3);
    expect(ns(receiver.accepted())).toEqual([[0, 1], [2]]);
    expect(receiver.requests.map((r) => r.headers['x-tenant'])).toEqual(['tenant-1', 'tenant-2']);
    expect(u.stats()).toMatchObject({ sent: 3, buffered: 0 });
  });

  it('retries a failed upload with backoff, keeping the order', async () => {
    receiver.statuses = [500, 503];
    const u = uploader({ batchMaxEvents: 2 });
    for (let i = 0; i < 4; i++) u.push(ev(i));
    await waitFor('both batches accepted', () => u.stats().sent === 4);
    expect(receiver.requests.map((r) => r.status)).toEqual([500, 503, 200, 200]);
    // Every attempt carried the same oldest events; the next batch waited for them.
    expect(ns(receiver.requests.map((r) => r.events))).toEqual([
      [0, 1],
      [0, 1],
      [0, 1],
      [2, 3],
    ]);
    expect(u.stats()).toEqual({ sent: 4, dropped_buffer: 0, failed_attempts: 2, buffered: 0 });
    expect(messages.filter((m) => m.includes('decision log upload failed'))).toHaveLength(2);
  });

  it('treats a header secret it cannot read as a failed attempt and retries', async () => {
    const u = uploader({
      batchMaxEvents: 1,
      headers: { 'X-Tenant': { kind: 'env', name: 'MCPGATE_TEST_LOG_TENANT' } },
    });
    u.push(ev(0));
    await waitFor('two failed attempts', () => u.stats().failed_attempts >= 2);
    expect(receiver.requests).toHaveLength(0);
    process.env.MCPGATE_TEST_LOG_TENANT = 'late';
    await waitFor('the upload', () => u.stats().sent === 1);
    expect(receiver.requests[0]?.headers['x-tenant']).toBe('late');
    expect(u.stats()).toMatchObject({ sent: 1, buffered: 0 });
  });

  it('drop_oldest: drops the oldest events when the buffer is full, counts and logs them', async () => {
    const u = uploader({ maxBufferEvents: 5, whenFull: 'drop_oldest' });
    for (let i = 0; i < 8; i++) u.push(ev(i));
    expect(u.stats()).toEqual({ sent: 0, dropped_buffer: 3, failed_attempts: 0, buffered: 5 });
    await u.close();
    expect(ns(receiver.accepted())).toEqual([[3, 4, 5, 6, 7]]);
    expect(messages.some((m) => m.includes('3 decision events dropped: buffer full'))).toBe(true);
  });

  it('drop_oldest: drops the oldest while the service is failing, and sends the rest in order once it is back', async () => {
    receiver.statuses = [500];
    const u = uploader({
      batchMaxEvents: 4,
      maxBufferEvents: 4,
      whenFull: 'drop_oldest',
      retry: { initialDelayMs: 400, maxDelayMs: 400 },
    });
    for (let i = 0; i < 4; i++) u.push(ev(i));
    await waitFor('the failed attempt', () => u.stats().failed_attempts === 1);
    u.push(ev(4));
    u.push(ev(5));
    expect(u.stats()).toMatchObject({ dropped_buffer: 2, buffered: 4 });
    await waitFor('the retry', () => u.stats().sent === 4);
    expect(ns(receiver.accepted())).toEqual([[2, 3, 4, 5]]);
    expect(u.stats()).toEqual({ sent: 4, dropped_buffer: 2, failed_attempts: 1, buffered: 0 });
  });

  it('close() uploads what is left in batches', async () => {
    const u = uploader({ batchMaxEvents: 2 });
    u.push(ev(0));
    u.push(ev(1));
    u.push(ev(2));
    await u.close();
    expect(ns(receiver.accepted())).toEqual([[0, 1], [2]]);
    expect(u.stats()).toMatchObject({ sent: 3, buffered: 0 });
    // After close, nothing is queued any more.
    u.push(ev(3));
    expect(u.stats()).toMatchObject({ dropped_buffer: 1, buffered: 0 });
  });

  it('refuse (the default): refuses once max_buffer_events wait, naming why, and drops nothing', async () => {
    receiver.statuses = [503];
    const u = uploader({
      batchMaxEvents: 3,
      maxBufferEvents: 3,
      retry: { initialDelayMs: 300, maxDelayMs: 300 },
    });
    for (let i = 0; i < 3; i++) u.push(ev(i));
    expect(u.refusal()).toBe(
      `the decision log (service:${url}) has 3 events waiting to be uploaded (max_buffer_events 3): the service is slower than the decisions`,
    );
    await waitFor('the failed attempt', () => u.stats().failed_attempts === 1);
    expect(u.refusal()).toContain(': uploading fails (HTTP 503)');
    await waitFor('the retry', () => u.stats().sent === 3);
    expect(u.refusal()).toBeUndefined();
    expect(u.stats()).toMatchObject({ dropped_buffer: 0, buffered: 0 });
    expect(ns(receiver.accepted())).toEqual([[0, 1, 2]]);
  });

  it('close() gives up after its timeout when the service does not answer, and returns what is left', async () => {
    receiver.hang = true;
    const u = uploader({ batchMaxEvents: 1 }, 100);
    u.push(ev(0));
    expect(await u.close()).toEqual({ events: [ev(0)], error: 'aborted at shutdown' });
    expect(u.stats()).toMatchObject({ sent: 0, buffered: 1, failed_attempts: 1 });
    expect(messages.some((m) => m.includes('1 decision events not uploaded at shutdown'))).toBe(
      true,
    );
  });

  it('close() makes one attempt when the service is unreachable', async () => {
    await receiver.close();
    const u = uploader({ batchMaxEvents: 1 }, 200);
    u.push(ev(0));
    await waitFor('failed attempts', () => u.stats().failed_attempts >= 2);
    await u.close();
    expect(u.stats()).toMatchObject({ sent: 0, buffered: 1 });
    expect(messages.some((m) => m.includes('1 decision events not uploaded at shutdown'))).toBe(
      true,
    );
  });
});

describe('createDecisionLog with a service destination', () => {
  it('uploads OPA-shaped events and reports the upload counters in stats()', async () => {
    const log = createDecisionLog(
      [destination(url, { batchMaxEvents: 1 })],
      { id: 'gw', version: '1.0.0' },
      { logger: capturingLogger(messages) },
    );
    const { decisionId: id } = log.write(
      {
        path: DECISION_ENTRYPOINT,
        inputJson: '{"action":"tools/call","arguments":{"q":1}}',
        result: { allow: true, reasons: [] },
        revision: 'rev-9',
        evalNs: 10,
        reqId: 'r-1',
        sessionId: 's-1',
        requestedBy: '10.0.0.1:1234',
      },
      undefined,
    );
    await waitFor('the upload', () => log.stats().sent === 1);
    const [event] = receiver.accepted()[0] as Array<Record<string, unknown>>;
    expect(event).toMatchObject({
      decision_id: id,
      labels: { id: 'gw', type: 'mcpgate', version: '1.0.0' },
      bundles: { mcpgate: { revision: 'rev-9' } },
      path: DECISION_ENTRYPOINT,
      input: { action: 'tools/call', arguments: { q: 1 } },
      result: { allow: true, reasons: [] },
      req_id: 'r-1',
    });
    // Uploads carry the event as built: no chain member (a log service stores events, not lines).
    expect(event).not.toHaveProperty('chain');
    expect(log.stats()).toEqual({
      sent: 1,
      refused: 0,
      dropped_buffer: 0,
      dropped_policy: 0,
      failed_attempts: 0,
      buffered: 0,
      mask_errors: 0,
      // Only stdout and file destinations are writers.
      writers: [],
    });
    await log.close();
  });

  it('spools what it could not upload at shutdown; the next start uploads it first and removes the spool file', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'mcpgate-upload-spool-'));
    const decision = (reqId: string) => ({
      path: DECISION_ENTRYPOINT,
      inputJson: '{"action":"tools/call"}',
      result: { allow: true, reasons: [] },
      revision: 'rev-9',
      evalNs: 10,
      reqId,
      sessionId: 's-1',
      requestedBy: '10.0.0.1:1234',
    });
    receiver.hang = true;
    const first = createDecisionLog(
      [destination(url, { batchMaxEvents: 10 })],
      { id: 'gw', version: '1.0.0' },
      { logger: capturingLogger(messages), spoolDir, closeTimeoutMs: 200 },
    );
    const ids = ['a', 'b', 'c'].map((r) => first.write(decision(r), undefined).decisionId);
    const report = await first.close();
    expect(report.spooled).toEqual([
      expect.objectContaining({ destination: `service:${url}`, lines: 3 }),
    ]);
    expect(readdirSync(spoolDir)).toHaveLength(1);

    receiver.hang = false;
    const second = createDecisionLog(
      [destination(url, { batchMaxEvents: 10 })],
      { id: 'gw', version: '1.0.0' },
      { logger: capturingLogger(messages), spoolDir },
    );
    const later = second.write(decision('d'), undefined).decisionId;
    await waitFor('the spooled events to be uploaded', () => readdirSync(spoolDir).length === 0);
    await second.close();
    const uploaded = receiver
      .accepted()
      .flat()
      .map((e) => (e as { decision_id: string }).decision_id);
    expect(uploaded.slice(-4)).toEqual([...ids, later]);
    rmSync(spoolDir, { recursive: true, force: true });
  });
});
