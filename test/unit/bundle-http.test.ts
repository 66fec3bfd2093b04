// HttpBundleSource against a real loopback bundle server (node:http) serving bundles built
// by the real OPA CLI: ETag / If-None-Match polling, delivery of changed bundles, refused
// bundles, back-off on server errors, the download size limit, long polling, header values
// read from secret references at every request, timeouts, and stop().
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBundle } from '../../src/policy/bundle/read.js';
import {
  HttpBundleSource,
  LONG_POLL_CONTENT_TYPE,
  type HttpBundleSourceOptions,
} from '../../src/policy/sources/http.js';
import { buildFixtureBundle } from './support/opa.js';

interface Served {
  status: number;
  body?: Buffer;
  etag?: string;
  contentType?: string;
  /** Hold the answer this long (long polling). */
  holdMs?: number;
  /** Send the body in chunks without Content-Length. */
  chunked?: boolean;
}

interface Seen {
  at: number;
  headers: IncomingHttpHeaders;
  /** How the exchange ended: "finished" (whole answer sent) or "closed" early. */
  ended?: 'finished' | 'closed';
}

interface BundleServer {
  url: string;
  requests: Seen[];
  /** What to answer; gets the request's If-None-Match. */
  answer: (ifNoneMatch: string | undefined) => Served;
  close(): Promise<void>;
}

function send(res: ServerResponse, served: Served): void {
  const headers: Record<string, string> = {};
  if (served.etag !== undefined) headers.ETag = served.etag;
  headers['Content-Type'] = served.contentType ?? 'application/gzip';
  if (served.chunked) {
    res.writeHead(served.status, headers);
    const body = served.body ?? Buffer.alloc(0);
    let offset = 0;
    const pump = (): void => {
      while (offset < body.length) {
        const chunk = body.subarray(offset, offset + 64 * 1024);
        offset += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  if (served.body) headers['Content-Length'] = String(served.body.length);
  res.writeHead(served.status, headers);
  res.end(served.body);
}

async function startServer(): Promise<BundleServer> {
  const requests: Seen[] = [];
  const server: BundleServer = {
    url: '',
    requests,
    answer: () => ({ status: 404 }),
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
  const http = createServer((req, res) => {
    const seen: Seen = { at: Date.now(), headers: req.headers };
    requests.push(seen);
    res.on('finish', () => (seen.ended ??= 'finished'));
    res.on('close', () => (seen.ended ??= 'closed'));
    const inm = req.headers['if-none-match'];
    const served = server.answer(typeof inm === 'string' ? inm : undefined);
    if (served.holdMs) {
      const timer = setTimeout(() => send(res, served), served.holdMs);
      res.on('close', () => clearTimeout(timer));
    } else {
      send(res, served);
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  server.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/bundles/mcp.tar.gz`;
  return server;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;
let rev1: Buffer;
let rev2: Buffer;
let server: BundleServer;
const sources: HttpBundleSource[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-bundle-http-'));
  buildFixtureBundle('normal', join(dir, 'rev1.tar.gz'), { revision: 'rev-1' });
  buildFixtureBundle('normal', join(dir, 'rev2.tar.gz'), { revision: 'rev-2' });
  rev1 = readFileSync(join(dir, 'rev1.tar.gz'));
  rev2 = readFileSync(join(dir, 'rev2.tar.gz'));
  server = await startServer();
}, 60_000);

afterEach(() => {
  for (const source of sources.splice(0)) source.stop();
  server.requests.length = 0;
  server.answer = () => ({ status: 404 });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  source: HttpBundleSource;
  /** Revisions of the bundles onBundle accepted, with their ETags. */
  accepted: Array<{ revision: string; etag: string | undefined }>;
  errors: Error[];
}

/** A source whose onBundle really parses the bundle (a refused parse refuses the bundle). */
function harness(options: Partial<HttpBundleSourceOptions> = {}): Harness {
  const accepted: Harness['accepted'] = [];
  const errors: Error[] = [];
  const source = new HttpBundleSource(
    {
      url: server.url,
      headers: {},
      minDelayMs: 20,
      maxDelayMs: 30,
      maxBytes: 8 * 1024 * 1024,
      ...options,
    },
    {
      onBundle: async (bytes, etag) => {
        const bundle = await parseBundle(bytes, {
          maxBytes: 8 * 1024 * 1024,
          source: 'http-test',
        });
        accepted.push({ revision: bundle.revision, etag });
      },
      onError: (err) => errors.push(err),
    },
  );
  sources.push(source);
  return { source, accepted, errors };
}

/** A bundle server answering 304 to the current ETag, 200 with the bundle otherwise. */
function serveBundle(state: { body: Buffer; etag: string }): void {
  server.answer = (inm) =>
    inm === state.etag
      ? { status: 304, etag: state.etag }
      : { status: 200, body: state.body, etag: state.etag };
}

describe('HttpBundleSource polling with ETags', () => {
  it('fetches at start, then polls with If-None-Match and gets 304s', async () => {
    serveBundle({ body: rev1, etag: '"rev-1"' });
    const h = harness();
    await h.source.start();
    // start() resolves after the first attempt, with the bundle delivered.
    expect(h.accepted).toEqual([{ revision: 'rev-1', etag: '"rev-1"' }]);
    expect(h.source.etag).toBe('"rev-1"');
    expect(server.requests[0]?.headers['if-none-match']).toBeUndefined();

    await waitFor('three more polls', () => server.requests.length >= 4);
    for (const seen of server.requests.slice(1)) {
      expect(seen.headers['if-none-match']).toBe('"rev-1"');
    }
    expect(h.accepted).toHaveLength(1);
    expect(h.errors).toEqual([]);
  });

  it('delivers a changed bundle with a new ETag', async () => {
    const state = { body: rev1, etag: '"rev-1"' };
    serveBundle(state);
    const h = harness();
    await h.source.start();
    Object.assign(state, { body: rev2, etag: '"rev-2"' });
    await waitFor('rev-2 delivered', () => h.accepted.length === 2);
    expect(h.accepted[1]).toEqual({ revision: 'rev-2', etag: '"rev-2"' });
    expect(h.source.etag).toBe('"rev-2"');
    await waitFor('a poll for rev-2', () =>
      server.requests.some((r) => r.headers['if-none-match'] === '"rev-2"'),
    );
    expect(h.accepted).toHaveLength(2);
  });

  it('a refused bundle keeps polling, is not downloaded again, keeps the old ETag in force', async () => {
    const state = { body: rev1, etag: '"rev-1"' };
    serveBundle(state);
    const h = harness();
    await h.source.start();
    let downloadsOfBad = 0;
    server.answer = (inm) => {
      if (inm === state.etag) return { status: 304, etag: state.etag };
      if (state.etag === '"bad"') downloadsOfBad++;
      return { status: 200, body: state.body, etag: state.etag };
    };
    Object.assign(state, { body: Buffer.from('not a bundle'), etag: '"bad"' });
    await waitFor('the refusal', () => h.errors.length === 1);
    expect(h.errors[0]?.message).toContain('http-test: bundle is not a gzip tarball');
    expect(h.source.etag).toBe('"rev-1"');
    const before = server.requests.length;
    await waitFor('polls after the refusal', () => server.requests.length >= before + 3);
    expect(downloadsOfBad).toBe(1);
    expect(server.requests.at(-1)?.headers['if-none-match']).toBe('"bad"');

    Object.assign(state, { body: rev2, etag: '"rev-2"' });
    await waitFor('the fixed bundle', () => h.accepted.length === 2);
    expect(h.accepted[1]?.revision).toBe('rev-2');
    expect(h.source.etag).toBe('"rev-2"');
    expect(h.errors).toHaveLength(1);
  });

  it('a bundle served without an ETag is delivered; the next poll sends no If-None-Match', async () => {
    server.answer = () => ({ status: 200, body: rev1 });
    const h = harness({ minDelayMs: 10, maxDelayMs: 10 });
    await h.source.start();
    expect(h.accepted).toEqual([{ revision: 'rev-1', etag: undefined }]);
    await waitFor('a second poll', () => server.requests.length >= 2);
    expect(server.requests[1]?.headers['if-none-match']).toBeUndefined();
  });
});

describe('HttpBundleSource failures', () => {
  it('backs off exponentially on server errors, then recovers', async () => {
    let failing = true;
    server.answer = () => (failing ? { status: 500 } : { status: 200, body: rev1, etag: '"r"' });
    const h = harness({ minDelayMs: 10, maxDelayMs: 160, random: () => 1 });
    await h.source.start();
    expect(h.errors[0]?.message).toBe(`GET ${server.url}: HTTP 500`);
    await waitFor('six attempts', () => server.requests.length >= 6);
    const gaps = server.requests.slice(1, 6).map((r, i) => r.at - (server.requests[i]?.at ?? 0));
    // 10, 20, 40, 80, 160 ms (capped at maxDelayMs), plus timer slack: a timer never fires
    // early, but on a loaded machine it may fire tens of ms late, so only the first gap has
    // an upper bound, and that one only says the backoff did not start at the cap.
    expect(gaps[0]).toBeLessThan(150);
    expect(gaps[3]).toBeGreaterThanOrEqual(75);
    expect(gaps[4]).toBeGreaterThanOrEqual(150);
    expect(gaps[4]).toBeGreaterThan(gaps[1] ?? 0);
    failing = false;
    await waitFor('recovery', () => h.accepted.length === 1, 3000);
    expect(h.accepted[0]?.revision).toBe('rev-1');
  });

  it('start() resolves after a failed first attempt (nothing listening)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/bundle.tar.gz`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const errors: Error[] = [];
    const source = new HttpBundleSource(
      { url, headers: {}, minDelayMs: 1000, maxDelayMs: 1000, maxBytes: 1024 },
      { onBundle: () => undefined, onError: (err) => errors.push(err) },
    );
    sources.push(source);
    await source.start();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toBe(
      `GET ${url}: fetch failed: connect ECONNREFUSED ${url.slice(7, url.indexOf('/', 7))}`,
    );
  });

  it('aborts a streamed download that passes maxBytes', async () => {
    server.answer = () => ({
      status: 200,
      body: Buffer.alloc(4 * 1024 * 1024, 7),
      etag: '"big"',
      chunked: true,
    });
    const h = harness({ maxBytes: 256 * 1024, minDelayMs: 10_000, maxDelayMs: 10_000 });
    await h.source.start();
    expect(h.accepted).toEqual([]);
    expect(h.errors[0]?.message).toBe(
      `GET ${server.url}: download passed the limit of 262144 bytes ` +
        '(policy.max_bundle_bytes); aborted',
    );
    await waitFor('the server to see the abort', () => server.requests[0]?.ended !== undefined);
    expect(server.requests[0]?.ended).toBe('closed');
  });

  it('refuses a declared Content-Length over maxBytes without reading the body', async () => {
    server.answer = () => ({ status: 200, body: Buffer.alloc(300 * 1024), etag: '"big"' });
    const h = harness({ maxBytes: 256 * 1024, minDelayMs: 10_000, maxDelayMs: 10_000 });
    await h.source.start();
    expect(h.errors[0]?.message).toBe(
      `GET ${server.url}: bundle is 307200 bytes, over the limit of 262144 bytes ` +
        '(policy.max_bundle_bytes)',
    );
  });

  it('times out a request that gets no answer', async () => {
    server.answer = () => ({ status: 200, body: rev1, holdMs: 5000 });
    const h = harness({ requestTimeoutMs: 100, minDelayMs: 10_000, maxDelayMs: 10_000 });
    const started = Date.now();
    await h.source.start();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(h.errors[0]?.message).toBe(`GET ${server.url}: no complete answer within 100 ms`);
  });
});

describe('HttpBundleSource requests', () => {
  it('sends Prefer: wait=N and re-polls at once when the server long-polls', async () => {
    server.answer = (inm) =>
      inm === '"r1"'
        ? { status: 304, etag: '"r1"', contentType: LONG_POLL_CONTENT_TYPE, holdMs: 60 }
        : { status: 200, body: rev1, etag: '"r1"', contentType: LONG_POLL_CONTENT_TYPE };
    // Without long polling the next poll would be 60 s away.
    const h = harness({
      longPollingTimeoutS: 5,
      minDelayMs: 50,
      maxDelayMs: 60_000,
      random: () => 1,
    });
    await h.source.start();
    await waitFor('held polls in a row', () => server.requests.length >= 4, 3000);
    for (const seen of server.requests) expect(seen.headers.prefer).toBe('wait=5');
    expect(h.accepted).toHaveLength(1);
  });

  it('falls back to the normal schedule when the server ignores long polling', async () => {
    serveBundle({ body: rev1, etag: '"r1"' });
    const h = harness({
      longPollingTimeoutS: 5,
      minDelayMs: 50,
      maxDelayMs: 60_000,
      random: () => 1,
    });
    await h.source.start();
    await sleep(300);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.headers.prefer).toBe('wait=5');
  });

  it('sends no Prefer header without long polling', async () => {
    serveBundle({ body: rev1, etag: '"r1"' });
    const h = harness();
    await h.source.start();
    expect(server.requests[0]?.headers.prefer).toBeUndefined();
  });

  it('reads header values from secret references at every request (rotation)', async () => {
    serveBundle({ body: rev1, etag: '"r1"' });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'file-token-1\n');
    process.env.MCPGATE_TEST_BUNDLE_AUTH = 'Bearer env-secret';
    try {
      const h = harness({
        headers: {
          Authorization: { kind: 'env', name: 'MCPGATE_TEST_BUNDLE_AUTH' },
          'X-Bundle-Token': { kind: 'file', path: tokenFile },
          'X-Tenant': { kind: 'literal', value: 'acme' },
        },
      });
      await h.source.start();
      expect(server.requests[0]?.headers).toMatchObject({
        authorization: 'Bearer env-secret',
        'x-bundle-token': 'file-token-1',
        'x-tenant': 'acme',
      });
      writeFileSync(tokenFile, 'file-token-2\n');
      await waitFor('the rotated token', () =>
        server.requests.some((r) => r.headers['x-bundle-token'] === 'file-token-2'),
      );
    } finally {
      delete process.env.MCPGATE_TEST_BUNDLE_AUTH;
    }
  });

  it('an unreadable header secret is a failed poll, not a crash', async () => {
    serveBundle({ body: rev1, etag: '"r1"' });
    const h = harness({
      headers: { Authorization: { kind: 'env', name: 'MCPGATE_TEST_UNSET_VAR' } },
    });
    await h.source.start();
    expect(server.requests).toHaveLength(0);
    expect(h.errors[0]?.message).toContain(
      'environment variable MCPGATE_TEST_UNSET_VAR is not set',
    );
  });
});

describe('HttpBundleSource.stop()', () => {
  it('stops polling', async () => {
    serveBundle({ body: rev1, etag: '"r1"' });
    const h = harness({ minDelayMs: 10, maxDelayMs: 10 });
    await h.source.start();
    await waitFor('some polls', () => server.requests.length >= 3);
    h.source.stop();
    const count = server.requests.length;
    await sleep(150);
    expect(server.requests.length).toBe(count);
  });

  it('aborts a long poll in flight, and no callback runs afterwards', async () => {
    server.answer = () => ({ status: 200, body: rev1, etag: '"r1"', holdMs: 5000 });
    const h = harness({ longPollingTimeoutS: 10 });
    const started = h.source.start();
    await waitFor('the request', () => server.requests.length === 1);
    h.source.stop();
    await started;
    await waitFor('the server to see the abort', () => server.requests[0]?.ended !== undefined);
    expect(server.requests[0]?.ended).toBe('closed');
    expect(h.accepted).toEqual([]);
    expect(h.errors).toEqual([]);
  });

  it('start() twice is refused', async () => {
    serveBundle({ body: rev1, etag: '"r1"' });
    const h = harness();
    await h.source.start();
    await expect(h.source.start()).rejects.toThrow('already started');
  });
});
