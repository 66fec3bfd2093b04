// Human approval of destructive calls, with real parts: two gateway replicas on one real
// Redis, the real filesystem MCP server, the shipped incident-response policy (write_file
// needs a second person's approval) and the admin API an approver uses. A held call
// completes once approved on the other replica; denial, timeout, the wrong approver, the
// requester approving their own call, a replay with other arguments, single use, forged
// ids, an expired approval and a flood of pending approvals are each refused with a reason.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { connectClient, textOf } from './support/client.js';
import { scratchDir, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { pinnedBundle } from './support/pinned-bundle.js';

let redis: RedisServer;
let issuer: TestIssuer;
let a: GatewayProcess;
let b: GatewayProcess;
let dir: string;
/** Receives the approvals webhooks: /json (mcpgate's event) and /slack, /down failing. */
let hooks: LoopbackServer;
const AUDIENCE = 'http://mcpgate.test/mcp';
const TIMEOUT_S = 4;

interface ApprovalView {
  id: string;
  state: string;
  tool: string;
  arguments: string;
  url: string;
  decision_id: string;
}

beforeAll(async () => {
  redis = await startRedis();
  issuer = await startIssuer();
  hooks = await startLoopbackServer();
  hooks.routes.set('/json', () => ({ status: 204, body: '' }));
  hooks.routes.set('/slack', () => ({ status: 200, body: 'ok' }));
  hooks.routes.set('/down', () => ({ status: 503, body: 'down' }));
  dir = scratchDir();
  mkdirSync(join(dir, 'demo/incidents'));
  const options = {
    issuer,
    dir,
    // The filesystem tools pinned: incident-response uses only reviewed definitions.
    bundle: await pinnedBundle(dir, upstreamsIn(dir)),
    gateway: { public_url: 'http://mcpgate.test' },
    sessions: {
      default_purpose: 'incident-response',
      store: { type: 'redis', url: { literal: redis.url }, command_timeout_ms: 500 },
    },
    extra: {
      telemetry: { metrics: { enabled: true, listen: { host: '127.0.0.1', port: 0 } } },
      approvals: {
        // The shipped policy asks for 600 s; the tests cannot wait that long.
        max_timeout_s: TIMEOUT_S,
        default_timeout_s: TIMEOUT_S,
        progress_interval_s: 0.25,
        max_pending_per_session: 2,
        webhooks: [
          { url: `${hooks.base}/json`, headers: { Authorization: { literal: 'Bearer hook' } } },
          { url: `${hooks.base}/slack`, format: 'slack' },
          { url: `${hooks.base}/down` },
        ],
      },
    },
  };
  a = await startGatewayProcess(options);
  // The second replica in a directory of its own, on the same demo files.
  b = await startGatewayProcess({ ...options, dir: undefined, upstreams: upstreamsIn(dir) });
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await issuer?.close();
  await hooks?.close();
  await redis?.stop();
});

/** The quickstart upstreams, the filesystem server serving `dir`'s demo folder. */
function upstreamsIn(base: string): Record<string, unknown> {
  return {
    filesystem: {
      transport: 'stdio',
      command: join(process.cwd(), 'node_modules/.bin/mcp-server-filesystem'),
      args: ['.'],
      cwd: join(base, 'demo'),
    },
  };
}

const oncall = (sub = 'olive') => issuer.mint({ aud: AUDIENCE, sub, groups: ['oncall'] });
const approver = (sub = 'carol') =>
  issuer.mint({ aud: AUDIENCE, sub, roles: ['mcpgate.approver'] });

async function admin(
  gateway: GatewayProcess,
  method: 'GET' | 'POST',
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Waits until an approval of this tool with these arguments is pending; returns it. */
async function pendingApproval(args: Record<string, unknown>): Promise<ApprovalView> {
  const token = await approver();
  const wanted = JSON.stringify(args);
  for (let i = 0; i < 200; i++) {
    const { json } = await admin(b, 'GET', '/admin/approvals', token);
    const found = (json.approvals as ApprovalView[]).find(
      (x) => x.state === 'pending' && x.arguments === canonical(wanted),
    );
    if (found) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no pending approval for ${wanted}`);
}

/** Canonical JSON of a flat object (keys sorted), as the gateway stores arguments. */
function canonical(json: string): string {
  const value = JSON.parse(json) as Record<string, unknown>;
  return JSON.stringify(
    Object.fromEntries(Object.entries(value).sort(([x], [y]) => (x < y ? -1 : 1))),
  );
}

function write(client: Client, path: string, content: string, progress?: Progress[]) {
  return client.callTool(
    { name: 'filesystem__write_file', arguments: { path, content } },
    undefined,
    {
      timeout: 30_000,
      ...(progress ? { onprogress: (p: Progress) => progress.push(p) } : {}),
    },
  ) as Promise<CallToolResult>;
}

async function decisionEvents(): Promise<Array<Record<string, unknown>>> {
  const text = (await a.auditText()) + (await b.auditText());
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('a held call', () => {
  it('waits, reports progress with the approval link, and runs once approved on the other replica', async () => {
    const client = await connectClient(a.mcpUrl, await oncall());
    const progress: Progress[] = [];
    const call = write(client, 'incidents/one.md', '# one', progress);
    const approval = await pendingApproval({ path: 'incidents/one.md', content: '# one' });
    expect(approval.url).toBe(`http://mcpgate.test/console/approvals/${approval.id}`);
    expect(existsSync(join(dir, 'demo/incidents/one.md'))).toBe(false);
    // The held call hears that it waits, and where it can be approved.
    while (progress.length === 0) await new Promise((r) => setTimeout(r, 25));
    expect(progress[0]?.message).toContain(approval.url);

    const decided = await admin(b, 'POST', `/admin/approvals/${approval.id}`, await approver(), {
      verdict: 'approve',
      comment: 'go ahead',
    });
    expect(decided.status).toBe(200);
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(readFileSync(join(dir, 'demo/incidents/one.md'), 'utf8')).toBe('# one');

    // Every step is in the decision log, linked to the call's decision.
    const events = await decisionEvents();
    const linked = events.filter((e) => e.parent_decision_id === approval.decision_id);
    const steps = linked.map((e) =>
      e.path === 'mcpgate/approval'
        ? (e.result as { event: string }).event
        : (e.input as { action: string }).action,
    );
    expect(steps).toEqual(expect.arrayContaining(['requested', 'admin/approvals/decide', 'used']));
    // The webhooks heard of it once (a failing one changes nothing), without the arguments.
    const json = hooks.requests.filter((r) => r.path === '/json');
    const mine = json
      .map((r) => JSON.parse(r.body) as { type: string; approval: Record<string, unknown> })
      .filter((e) => e.approval.id === approval.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toEqual({
      type: 'mcpgate.approval.requested',
      gateway: 'e2e',
      approval: expect.objectContaining({
        id: approval.id,
        url: approval.url,
        tool: 'filesystem.write_file',
        requester: { issuer: issuer.issuer, subject: 'olive' },
        purpose: 'incident-response',
        decision_id: approval.decision_id,
      }) as unknown,
    });
    expect(JSON.stringify(mine[0])).not.toContain('# one');
    expect(json[0]?.headers.authorization).toBe('Bearer hook');
    const slack = hooks.requests
      .filter((r) => r.path === '/slack')
      .map((r) => JSON.parse(r.body) as { text: string; blocks: unknown[] })
      .filter((m) => m.text.includes(approval.url));
    expect(slack).toHaveLength(1);
    expect(slack[0]?.text).toContain('Approval needed: filesystem.write_file for olive');
    expect(JSON.stringify(slack[0]?.blocks)).toContain(`"url":"${approval.url}"`);

    expect(
      [...a.logs, ...b.logs].some(
        (l) => l.message === 'approval webhook failed' && l.error === 'answered HTTP 503',
      ),
    ).toBe(true);

    // The approval is used: approving it again changes nothing.
    const again = await admin(a, 'POST', `/admin/approvals/${approval.id}`, await approver(), {
      verdict: 'approve',
    });
    expect(again.status).toBe(409);
    expect(again.json.state).toBe('used');
    await client.close();
  });

  it('is refused with the approver and comment when denied', async () => {
    const client = await connectClient(a.mcpUrl, await oncall());
    const call = write(client, 'incidents/two.md', '# two');
    const approval = await pendingApproval({ path: 'incidents/two.md', content: '# two' });
    await admin(a, 'POST', `/admin/approvals/${approval.id}`, await approver('dave'), {
      verdict: 'deny',
      comment: 'not during the freeze',
    });
    const result = await call;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('dave denied approval of this call: not during the freeze');
    expect(existsSync(join(dir, 'demo/incidents/two.md'))).toBe(false);
    await client.close();
  });

  it('times out with the reason and the approval link', async () => {
    const client = await connectClient(b.mcpUrl, await oncall());
    const started = Date.now();
    const result = await write(client, 'incidents/three.md', '# three');
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 100);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /no approval within 4 s \(filesystem\.write_file is listed as destructive; a second person must approve this call\); the request at http:\/\/mcpgate\.test\/console\/approvals\/a[\w-]{43} has expired/,
    );
    expect(existsSync(join(dir, 'demo/incidents/three.md'))).toBe(false);
    const events = await decisionEvents();
    expect(
      events.some(
        (e) => e.path === 'mcpgate/approval' && (e.result as { event: string }).event === 'expired',
      ),
    ).toBe(true);
    await client.close();
  });
});

describe('who may approve', () => {
  it('refuses the wrong approver and the requester (four eyes); the call still waits', async () => {
    const client = await connectClient(a.mcpUrl, await oncall('olive'));
    const call = write(client, 'incidents/four.md', '# four');
    const approval = await pendingApproval({ path: 'incidents/four.md', content: '# four' });

    const stranger = await issuer.mint({ aud: AUDIENCE, sub: 'mallory', groups: ['oncall'] });
    const wrong = await admin(b, 'POST', `/admin/approvals/${approval.id}`, stranger, {
      verdict: 'approve',
    });
    expect(wrong.status).toBe(403);
    expect(wrong.json.reasons).toEqual([
      'approving filesystem.write_file needs someone with the mcpgate.approver role',
    ]);

    // The requester holds the approver role too: four eyes still refuses.
    const self = await issuer.mint({
      aud: AUDIENCE,
      sub: 'olive',
      groups: ['oncall'],
      roles: ['mcpgate.approver'],
    });
    const own = await admin(b, 'POST', `/admin/approvals/${approval.id}`, self, {
      verdict: 'approve',
    });
    expect(own.status).toBe(403);
    expect((own.json.reasons as string[])[0]).toContain(
      'four eyes: olive asked for this call and may not approve it',
    );

    await admin(b, 'POST', `/admin/approvals/${approval.id}`, await approver(), {
      verdict: 'approve',
    });
    expect((await call).isError).toBeFalsy();
    await client.close();
  });
});

/**
 * A client that cannot wait: it calls, gives up (the approval stays pending), and an
 * approver then approves on `where`. Returns the approval.
 */
async function approvedWhileAway(
  client: Client,
  where: GatewayProcess,
  path: string,
  content: string,
): Promise<ApprovalView> {
  const abort = new AbortController();
  const first = client.callTool(
    { name: 'filesystem__write_file', arguments: { path, content } },
    undefined,
    { signal: abort.signal },
  );
  const approval = await pendingApproval({ path, content });
  abort.abort('cannot wait');
  await expect(first).rejects.toThrow();
  await admin(where, 'POST', `/admin/approvals/${approval.id}`, await approver(), {
    verdict: 'approve',
  });
  return approval;
}

describe('bound to the exact call', () => {
  it('runs a retry of the approved call once; other arguments or a second run need a new approval', async () => {
    const client = await connectClient(a.mcpUrl, await oncall());
    const approval = await approvedWhileAway(client, b, 'incidents/five.md', '# 5');

    // The same tool with other arguments does not match: it waits for an approval of its own.
    const altered = write(client, 'incidents/five.md', '# 5, altered');
    const other = await pendingApproval({ path: 'incidents/five.md', content: '# 5, altered' });
    expect(other.id).not.toBe(approval.id);
    await admin(b, 'POST', `/admin/approvals/${other.id}`, await approver(), { verdict: 'deny' });
    expect((await altered).isError).toBe(true);
    expect(existsSync(join(dir, 'demo/incidents/five.md'))).toBe(false);

    // The exact call runs, once.
    expect((await write(client, 'incidents/five.md', '# 5')).isError).toBeFalsy();
    expect(readFileSync(join(dir, 'demo/incidents/five.md'), 'utf8')).toBe('# 5');
    const third = write(client, 'incidents/five.md', '# 5');
    const fresh = await pendingApproval({ path: 'incidents/five.md', content: '# 5' });
    expect(fresh.id).not.toBe(approval.id);
    await admin(b, 'POST', `/admin/approvals/${fresh.id}`, await approver(), { verdict: 'deny' });
    expect((await third).isError).toBe(true);
    await client.close();
  });

  it('does not serve another session the approval of this one', async () => {
    const mine = await connectClient(a.mcpUrl, await oncall());
    const approval = await approvedWhileAway(mine, a, 'incidents/six.md', '# 6');
    // Same user, same call, another session: a new approval, not this one.
    const theirs = await connectClient(b.mcpUrl, await oncall());
    const call = write(theirs, 'incidents/six.md', '# 6');
    const other = await pendingApproval({ path: 'incidents/six.md', content: '# 6' });
    expect(other.id).not.toBe(approval.id);
    await admin(a, 'POST', `/admin/approvals/${other.id}`, await approver(), { verdict: 'deny' });
    expect((await call).isError).toBe(true);
    expect(existsSync(join(dir, 'demo/incidents/six.md'))).toBe(false);
    await Promise.all([mine.close(), theirs.close()]);
  });
});

describe('bad input', () => {
  it('answers forged and malformed ids 404, a missing verdict 400, without a token 401', async () => {
    const token = await approver();
    const forged = `a${'A'.repeat(43)}`;
    expect(
      (await admin(a, 'POST', `/admin/approvals/${forged}`, token, { verdict: 'approve' })).status,
    ).toBe(404);
    expect((await admin(a, 'GET', `/admin/approvals/${forged}`, token)).status).toBe(404);
    expect(
      (await admin(a, 'POST', '/admin/approvals/%7D%7B', token, { verdict: 'approve' })).status,
    ).toBe(404);
    expect(
      (await admin(a, 'POST', `/admin/approvals/${forged}`, token, { verdict: 'yes' })).status,
    ).toBe(400);
    const anonymous = await fetch(`${a.url}/admin/approvals/${forged}`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
  });

  it('refuses to approve an expired request', async () => {
    const client = await connectClient(a.mcpUrl, await oncall());
    const call = write(client, 'incidents/seven.md', '# 7');
    const approval = await pendingApproval({ path: 'incidents/seven.md', content: '# 7' });
    expect((await call).isError).toBe(true); // timed out
    const late = await admin(b, 'POST', `/admin/approvals/${approval.id}`, await approver(), {
      verdict: 'approve',
    });
    expect(late.status).toBe(409);
    expect(late.json.message).toBe(`approval ${approval.id} is expired; nothing was changed`);
    await client.close();
  });

  it('bounds the pending approvals of a session, with a clear reason', async () => {
    const client = await connectClient(a.mcpUrl, await oncall());
    const held = [write(client, 'incidents/f1.md', '1'), write(client, 'incidents/f2.md', '2')];
    await pendingApproval({ path: 'incidents/f1.md', content: '1' });
    await pendingApproval({ path: 'incidents/f2.md', content: '2' });
    const third = await write(client, 'incidents/f3.md', '3');
    expect(third.isError).toBe(true);
    expect(textOf(third)).toContain(
      'this session already has 2 approvals pending (approvals.max_pending_per_session)',
    );
    await Promise.all(held);
    await client.close();
  });

  it('refuses a call whose arguments are too large to show an approver, and holds nothing', async () => {
    const client = await connectClient(a.mcpUrl, await oncall());
    const content = 'x'.repeat(70_000); // over approvals.max_argument_bytes (64 KiB)
    const result = await write(client, 'incidents/huge.md', content);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /this call needs approval, but its arguments \(\d+ bytes\) are too large to show an approver \(approvals\.max_argument_bytes is 65536\); denied/,
    );
    expect(existsSync(join(dir, 'demo/incidents/huge.md'))).toBe(false);
    const { json } = await admin(b, 'GET', '/admin/approvals', await approver());
    const held = (json.approvals as ApprovalView[]).filter(
      (x) => x.tool === 'filesystem.write_file',
    );
    expect(held.every((x) => !x.arguments.includes('x'.repeat(100)))).toBe(true);
    await client.close();
  });
});

describe('metrics', () => {
  /** One sample of the exposition at a replica's metrics listener (0 when absent). */
  async function sample(gateway: GatewayProcess, series: string): Promise<number> {
    const listening = gateway.logs.find((l) => l.message === 'mcpgate listening');
    const text = await (await fetch(String(listening?.metrics))).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  }

  it('counts each settled approval once in the fleet, and no call is held at the end', async () => {
    const total = async (series: string) => (await sample(a, series)) + (await sample(b, series));
    // Earlier tests approved, denied and let approvals expire, on both replicas.
    expect(await total('mcpgate_approvals_decided_total{outcome="approved"}')).toBeGreaterThan(0);
    expect(await total('mcpgate_approvals_decided_total{outcome="denied"}')).toBeGreaterThan(0);
    expect(await total('mcpgate_approvals_decided_total{outcome="expired"}')).toBeGreaterThan(0);
    const decided = (await decisionEvents()).filter(
      (e) =>
        (e.input as { action?: string } | undefined)?.action === 'admin/approvals/decide' &&
        (e.result as { allow?: boolean } | undefined)?.allow === true,
    ).length;
    // A verdict is counted only where it was given: never more than the policy allowed
    // (some allowed ones found the approval no longer pending, 409), not once per replica.
    const verdicts =
      (await total('mcpgate_approvals_decided_total{outcome="approved"}')) +
      (await total('mcpgate_approvals_decided_total{outcome="denied"}'));
    expect(verdicts).toBeLessThanOrEqual(decided);
    expect(await total('mcpgate_approvals_pending')).toBe(0);
  });
});

// Last in the file: it stops the Redis every replica shares.
describe('the store goes down while a call waits', () => {
  it('denies the call when its time is up (fail closed), saying why, and logs the refusal', async () => {
    const client = await connectClient(a.mcpUrl, await oncall());
    const call = write(client, 'incidents/down.md', '# down');
    const approval = await pendingApproval({ path: 'incidents/down.md', content: '# down' });
    await redis.stop();

    const result = await call;
    const reason = `session store (Redis at 127.0.0.1:${redis.port}) is unavailable: connection refused; the call needs approval and was denied (fail closed)`;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(`Denied by policy: ${reason}`);
    const decision = result._meta?.['mcpgate/decision'] as { decision_id: string } | undefined;
    expect(decision?.decision_id).toBe(approval.decision_id);
    expect(existsSync(join(dir, 'demo/incidents/down.md'))).toBe(false);

    // The call's own line is an allow with require_approval; the refusal is logged with it.
    const refused = (await decisionEvents()).filter(
      (e) => e.path === 'mcpgate/approval' && e.parent_decision_id === approval.decision_id,
    );
    expect(refused.map((e) => e.result)).toEqual([
      { event: 'requested', approval_id: approval.id, url: approval.url },
      { event: 'refused', reason, approval_id: approval.id },
    ]);
    await client.close();
  });
});
