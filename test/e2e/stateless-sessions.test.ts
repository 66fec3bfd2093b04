// The zero-trust session guarantees for MCP 2026-07-28 clients, which send no initialize and
// no Mcp-Session-Id (docs/sessions-2026.md): least privilege by purpose, prerequisites, TTL,
// isolation of two agent runs of one user, termination, and two replicas sharing Redis,
// including a call held on one replica (an upstream asked its client) resumed on the other.
// Requests are raw 2026-07-28 POSTs, as the Python SDK pinned to 2026-07-28 sends them
// (test/e2e/python-client.test.ts drives that client itself), against the conformance
// fixture behind two gateway replicas with one Redis and one sessions.run_key.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { join, dirname } from 'node:path';
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFixture, type Fixture } from '../conformance/harness.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildInto, copyRego } from './support/rego-copy.js';
import {
  sendStateless,
  STATELESS_VERSION as VERSION,
  textOfResult,
  type StatelessAnswer,
} from './support/stateless.js';

const AUDIENCE = 'http://mcpgate.test/mcp';
const RUN_KEY = 'k'.repeat(48);

/**
 * Three purposes: `run-reader` may use two tools, the second only after the first in the
 * same session (a prerequisite), and is terminated by a third; `run-wide` may use every
 * tool; `run-short` lives two seconds.
 */
const PURPOSES = `package mcp.purposes.run_reader

purpose := "run-reader"

allow := true

_tools := {"fixture.test_simple_text", "fixture.test_error_handling", "fixture.test_image_content"}

visible contains item.id if {
\tsome item in input.catalog
\titem.id in _tools
}

deny contains "run-reader may not use this tool" if {
\tinput.action == "tools/call"
\tnot input.tool.id in _tools
}

deny contains "call test_simple_text first in this session" if {
\tinput.tool.id == "fixture.test_error_handling"
\tnot _read_first
}

_read_first if {
\tsome entry in input.session.history
\tentry.target == "fixture.test_simple_text"
\tentry.allowed
}

terminate_session contains true if input.tool.id == "fixture.test_image_content"
`;

const WIDE = `package mcp.purposes.run_wide

purpose := "run-wide"

allow := true

visible contains item.id if some item in input.catalog
`;

const SHORT = `package mcp.purposes.run_short

purpose := "run-short"

allow := true

visible contains item.id if some item in input.catalog

session_ttl_s contains 2
`;

let fixture: Fixture;
let issuer: TestIssuer;
let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
/** What both replicas are started with (a third one joins for a test of its own). */
let replicaOptions: Parameters<typeof startGatewayProcess>[0];

const send = (
  gateway: GatewayProcess,
  token: string,
  method: string,
  params: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<StatelessAnswer> => sendStateless(gateway.mcpUrl, token, method, params, headers);

/** A tools/call's text, or its denial text, or the JSON-RPC error's message. */
async function call(
  gateway: GatewayProcess,
  token: string,
  tool: string,
  headers: Record<string, string>,
): Promise<string> {
  const answer = await send(gateway, token, 'tools/call', { name: tool, arguments: {} }, headers);
  if (answer.body.error) return `error ${answer.status}: ${answer.body.error.message}`;
  const text = textOfResult(answer.body.result);
  return answer.body.result?.isError === true ? `denied: ${text}` : text;
}

const token = (sub = 'alice', claims: Record<string, unknown> = {}) =>
  issuer.mint({ aud: AUDIENCE, sub, groups: ['engineering'], ...claims });

const run = (purpose: string, label: string) => ({ 'Mcp-Purpose': purpose, 'Mcp-Run': label });

beforeAll(async () => {
  [fixture, issuer, redis] = await Promise.all([startFixture(), startIssuer(), startRedis()]);
  const rego = copyRego();
  writeFileSync(join(rego, 'mcp/purposes/run_reader.rego'), PURPOSES);
  writeFileSync(join(rego, 'mcp/purposes/run_wide.rego'), WIDE);
  writeFileSync(join(rego, 'mcp/purposes/run_short.rego'), SHORT);
  const bundle = join(dirname(rego), 'bundle.tar.gz');
  buildInto(rego, bundle);
  const options = {
    issuer,
    bundle,
    gateway: { public_url: 'http://mcpgate.test' },
    upstreams: { fixture: { transport: 'http', url: fixture.url, prefix: '' } },
    sessions: {
      run_key: 'env:MCPGATE_RUN_KEY',
      store: { type: 'redis', url: { literal: redis.url }, command_timeout_ms: 500 },
    },
    env: { MCPGATE_RUN_KEY: RUN_KEY },
  };
  replicaOptions = options;
  [a, b] = await Promise.all([startGatewayProcess(options), startGatewayProcess(options)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await fixture?.stop();
  await issuer?.close();
  await redis?.stop();
});

describe('2026-07-28 requests on /mcp', () => {
  it('refuses a Mcp-Method header that contradicts the body (HeaderMismatch -32020)', async () => {
    const answer = await send(a, await token(), 'tools/list', {}, { 'mcp-method': 'prompts/list' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe(-32020);
    expect(answer.body.error?.message).toContain('Mcp-Method');
  });

  it('refuses an Mcp-Name header that names another tool (-32020)', async () => {
    const answer = await send(
      a,
      await token(),
      'tools/call',
      { name: 'test_simple_text', arguments: {} },
      { 'mcp-name': 'test_error_handling' },
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe(-32020);
  });

  it('refuses a version it does not speak and lists those it does (-32022)', async () => {
    const tokenText = await token();
    const response = await fetch(a.mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokenText}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2099-01-01',
        'mcp-method': 'tools/list',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/list',
        params: {
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2099-01-01',
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      }),
    });
    const body = (await response.json()) as StatelessAnswer['body'];
    expect(response.status).toBe(400);
    expect(body.error?.code).toBe(-32022);
    expect(body.error?.data).toEqual({
      supported: expect.arrayContaining(['2026-07-28', '2025-11-25']),
      requested: '2099-01-01',
    });
  });

  it('answers server/discover with both eras, privately cacheable', async () => {
    const answer = await send(a, await token(), 'server/discover', {}, run('run-wide', 'd1'));
    expect(answer.body.result).toMatchObject({
      supportedVersions: expect.arrayContaining(['2026-07-28', '2025-11-25', '2025-06-18']),
      cacheScope: 'private',
      resultType: 'complete',
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcpgate' } },
    });
  });

  it('marks a list filtered for the caller private, with a short ttlMs', async () => {
    const answer = await send(a, await token(), 'tools/list', {}, run('run-reader', 'l1'));
    expect(answer.body.result).toMatchObject({ cacheScope: 'private', resultType: 'complete' });
    expect(answer.body.result?.ttlMs).toBeGreaterThan(0);
  });
});

describe('zero-trust sessions of 2026-07-28 clients', () => {
  it('gives each purpose only its own tools (least privilege by purpose)', async () => {
    const alice = await token();
    const listed = async (purpose: string) =>
      (
        (await send(a, alice, 'tools/list', {}, run(purpose, 'p1'))).body.result?.tools as Array<{
          name: string;
        }>
      ).map((tool) => tool.name);
    expect((await listed('run-reader')).sort()).toEqual([
      'test_error_handling',
      'test_image_content',
      'test_simple_text',
    ]);
    expect(await listed('run-wide')).toContain('test_audio_content');
    expect(await call(a, alice, 'test_audio_content', run('run-reader', 'p1'))).toContain(
      'denied: Denied by policy: run-reader may not use this tool',
    );
    expect(await call(a, alice, 'test_audio_content', run('run-wide', 'p1'))).toBe('audio');
  });

  it('keeps prerequisites per run: two runs of one user are two sessions', async () => {
    const alice = await token();
    expect(await call(a, alice, 'test_simple_text', run('run-reader', 'iso-1'))).toContain(
      'simple text',
    );
    // The other run has not met the prerequisite; the first has.
    expect(await call(a, alice, 'test_error_handling', run('run-reader', 'iso-2'))).toContain(
      'call test_simple_text first in this session',
    );
    expect(await call(a, alice, 'test_error_handling', run('run-reader', 'iso-1'))).not.toContain(
      'Denied by policy',
    );
  });

  it('binds a session to its principal and client: the same run label is not shared', async () => {
    const alice = await token();
    expect(await call(a, alice, 'test_simple_text', run('run-reader', 'shared-label'))).toContain(
      'simple text',
    );
    const bob = await token('bob');
    expect(await call(a, bob, 'test_error_handling', run('run-reader', 'shared-label'))).toContain(
      'call test_simple_text first',
    );
    const otherClient = await token('alice', { client_id: 'another-agent' });
    expect(
      await call(a, otherClient, 'test_error_handling', run('run-reader', 'shared-label')),
    ).toContain('call test_simple_text first');
  });

  it('holds a token bound to a run (mcp_run) to that run', async () => {
    const bound = await token('alice', { mcp_run: 'bound-1' });
    expect(await call(a, bound, 'test_simple_text', run('run-reader', 'bound-2'))).toContain(
      'error 400: this token is bound to agent run "bound-1"',
    );
    expect(await call(a, bound, 'test_simple_text', { 'Mcp-Purpose': 'run-reader' })).toContain(
      'simple text',
    );
  });

  it('ends the run when the policy terminates the session, on every replica', async () => {
    const alice = await token();
    expect(await call(a, alice, 'test_simple_text', run('run-reader', 'term-1'))).toContain(
      'simple text',
    );
    expect(await call(a, alice, 'test_simple_text', run('run-reader', 'term-2'))).toContain(
      'simple text',
    );
    // The image tool obliges terminate_session: the answer comes, then the session ends.
    expect(await call(a, alice, 'test_image_content', run('run-reader', 'term-1'))).toBe('image');
    // The session ends right after that answer (terminate_session runs after it is sent).
    for (let i = 0; i < 50; i++) {
      const next = await send(a, alice, 'tools/list', {}, run('run-reader', 'term-1'));
      if (next.status === 404) break;
      await sleep(50);
    }
    for (const replica of [a, b]) {
      expect(await call(replica, alice, 'test_simple_text', run('run-reader', 'term-1'))).toMatch(
        /^error 404: Session ended: terminated by policy.*start a new run/,
      );
    }
    // The other run goes on, with its history.
    expect(await call(b, alice, 'test_error_handling', run('run-reader', 'term-2'))).not.toContain(
      'Denied by policy',
    );
  });

  it('ends the run with its TTL, and a client may end its own run (DELETE)', async () => {
    const alice = await token();
    expect(await call(a, alice, 'test_simple_text', run('run-short', 'ttl-1'))).toContain(
      'simple text',
    );
    await sleep(2500);
    expect(await call(b, alice, 'test_simple_text', run('run-short', 'ttl-1'))).toMatch(
      /^error 404: Session ended: its lifetime \(TTL\) ran out/,
    );
    expect(await call(a, alice, 'test_simple_text', run('run-wide', 'del-1'))).toContain(
      'simple text',
    );
    const deleted = await fetch(a.mcpUrl, {
      method: 'DELETE',
      headers: {
        authorization: `Bearer ${alice}`,
        'mcp-protocol-version': VERSION,
        ...run('run-wide', 'del-1'),
      },
    });
    expect(deleted.status).toBe(200);
    expect(await call(b, alice, 'test_simple_text', run('run-wide', 'del-1'))).toMatch(
      /^error 404: Session ended: closed by client \(DELETE\)/,
    );
  });

  it('continues one run across replicas with its history (Redis)', async () => {
    const alice = await token();
    expect(await call(a, alice, 'test_simple_text', run('run-reader', 'rep-1'))).toContain(
      'simple text',
    );
    expect(await call(b, alice, 'test_error_handling', run('run-reader', 'rep-1'))).not.toContain(
      'Denied by policy',
    );
  });

  it('never takes a derived session id as an Mcp-Session-Id', async () => {
    const alice = await token();
    await call(a, alice, 'test_simple_text', run('run-wide', 'id-1'));
    const decisions = (await a.auditText())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { input?: { session?: { id?: string } } });
    const derived = decisions.map((d) => d.input?.session?.id).find((id) => id?.startsWith('r'));
    expect(derived).toBeDefined();
    const response = await fetch(a.mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': derived!,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(response.status).toBe(404);
  });
});

describe('a held call (an upstream asked during a 2026-07-28 call) and the replicas', () => {
  // The fixture speaks 2025-11-25: its elicitation waits in the replica that took the call.
  const elicit = { name: 'test_elicitation', arguments: { message: 'Who are you?' } };
  const answer = { q1: { action: 'accept', content: { username: 'ann', email: 'a@x.test' } } };

  const first = async (
    gateway: GatewayProcess,
    alice: string,
    headers: Record<string, string>,
  ): Promise<string> => {
    const asked = await send(gateway, alice, 'tools/call', elicit, headers);
    expect(asked.body.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { q1: { method: 'elicitation/create' } },
    });
    return asked.body.result?.requestState as string;
  };

  it('resumes on the other replica: the retry is relayed to the one that holds the call', async () => {
    const alice = await token();
    const headers = run('run-wide', 'held-1');
    const state = await first(a, alice, headers);
    const retry = await send(
      b,
      alice,
      'tools/call',
      { ...elicit, inputResponses: answer, requestState: state },
      headers,
    );
    expect(retry.body.error).toBeUndefined();
    expect(textOfResult(retry.body.result)).toContain('action=accept');
    expect(textOfResult(retry.body.result)).toContain('a@x.test');
    // Used once, wherever it comes back.
    for (const replica of [a, b]) {
      const replay = await send(
        replica,
        alice,
        'tools/call',
        { ...elicit, inputResponses: answer, requestState: state },
        headers,
      );
      expect(replay.body.error?.message).toContain('requestState was already used');
    }
  });

  it("keeps the state's binding: another run's session cannot resume it on either replica", async () => {
    const alice = await token();
    const state = await first(a, alice, run('run-wide', 'held-2'));
    const stolen = await send(
      b,
      alice,
      'tools/call',
      { ...elicit, inputResponses: answer, requestState: state },
      run('run-wide', 'held-2-other'),
    );
    expect(stolen.body.error?.message).toContain('requestState belongs to another session');
  });

  it('lets the Python SDK pinned to 2026-07-28 answer on one replica what the other asked', async () => {
    // A load balancer without affinity, made deterministic: retries (with a requestState)
    // go to b, every other request to a, which asks the question and holds the call.
    const seen: string[] = [];
    const balancer: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const to = body.includes('"requestState"') ? b : a;
        seen.push(`${req.method} ${to === a ? 'a' : 'b'}`);
        const forward = httpRequest(
          to.mcpUrl,
          { method: req.method, headers: { ...req.headers, host: new URL(to.mcpUrl).host } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => res.destroy());
        forward.end(body);
      });
    });
    await new Promise<void>((resolve) => balancer.listen(0, '127.0.0.1', resolve));
    const port = (balancer.address() as AddressInfo).port;
    try {
      const child = spawn(
        join(ROOT, '.tools/python-mcp/bin/python'),
        [
          join(ROOT, 'test/python/client_check.py'),
          ...['--mode', '2026-07-28', '--check', 'elicitation'],
          ...['--header', 'Mcp-Purpose=run-wide', '--header', 'Mcp-Run=held-py'],
          `http://127.0.0.1:${port}/mcp`,
        ],
        {
          env: {
            PATH: process.env.PATH ?? '',
            MCPGATE_TOKEN: await token(),
            PYTHONDONTWRITEBYTECODE: '1',
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await new Promise((resolve) => child.once('exit', resolve));
      expect(JSON.parse(out)).toMatchObject({ check: 'elicitation', passed: true });
      expect(seen).toContain('POST b');
    } finally {
      await new Promise((resolve) => balancer.close(resolve));
    }
  }, 30_000);

  it('refuses a retry whose holder is gone (restarted), saying to call again', async () => {
    const c = await startGatewayProcess(replicaOptions);
    const alice = await token();
    const headers = run('run-wide', 'held-3');
    let state: string;
    try {
      state = await first(c, alice, headers);
    } finally {
      const exited = new Promise((resolve) => c.child.once('exit', resolve));
      c.child.kill('SIGKILL');
      await exited;
    }
    const retry = await send(
      b,
      alice,
      'tools/call',
      { ...elicit, inputResponses: answer, requestState: state },
      headers,
    );
    expect(retry.body.error?.code).toBe(-32602);
    expect(retry.body.error?.message).toMatch(
      /^requestState names a call held by replica \S+, which is gone \(restarted or stopped; the call ended with it\): call again without requestState$/,
    );
    await c.stop();
  }, 60_000);
});
