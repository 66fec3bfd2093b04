// The caller approves their own call by MCP elicitation (form mode) when the policy allows
// self-approval (a copy of the shipped policy with `self: true`), with the SDK's real client
// answering the gateway's elicitation/create; a client that declared URL elicitation gets
// -32042 naming the approval page at once, and its retry runs once someone approves.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitationCompleteNotificationSchema,
  ElicitRequestSchema,
  McpError,
  type CallToolResult,
  type ElicitRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { textOf } from './support/client.js';
import {
  quickstartUpstreams,
  scratchDir,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { pinnedBundle } from './support/pinned-bundle.js';
import { sendStateless, textOfResult } from './support/stateless.js';

let issuer: TestIssuer;
let gateway: GatewayProcess;
let dir: string;

beforeAll(async () => {
  issuer = await startIssuer();
  dir = scratchDir();
  mkdirSync(join(dir, 'demo/incidents'));
  // The security team lets on-call engineers confirm their own destructive calls.
  // Its tools pinned: incident-response uses only reviewed definitions.
  const bundle = await pinnedBundle(dir, quickstartUpstreams(), (rego) => {
    const lib = join(rego, 'mcp/lib/approval.rego');
    writeFileSync(lib, readFileSync(lib, 'utf8').replace('"self": false', '"self": true'));
  });
  gateway = await startGatewayProcess({
    issuer,
    dir,
    bundle,
    sessions: { default_purpose: 'incident-response' },
    extra: { approvals: { max_timeout_s: 20, progress_interval_s: 0.25 } },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await issuer?.close();
});

async function connect(
  capabilities: Record<string, unknown>,
  onElicit?: (request: ElicitRequest) => Record<string, unknown>,
): Promise<Client> {
  const token = await issuer.mint({ aud: gateway.mcpUrl, sub: 'olive', groups: ['oncall'] });
  const client = new Client({ name: 'elicit-client', version: '1.0.0' }, { capabilities });
  if (onElicit) {
    client.setRequestHandler(ElicitRequestSchema, (request) =>
      Promise.resolve(onElicit(request) as never),
    );
  }
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.mcpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

const write = (client: Client, path: string, content: string) =>
  client.callTool({
    name: 'filesystem__write_file',
    arguments: { path, content },
  }) as Promise<CallToolResult>;

describe('self-approval by elicitation (form mode)', () => {
  it('shows the exact call, and runs it when the caller accepts', async () => {
    const asked: ElicitRequest[] = [];
    const client = await connect({ elicitation: {} }, (request) => {
      asked.push(request);
      return { action: 'accept', content: { comment: 'mine, intended' } };
    });
    const result = await write(client, 'incidents/self.md', '<b>hi</b>');
    expect(result.isError).toBeFalsy();
    expect(readFileSync(join(dir, 'demo/incidents/self.md'), 'utf8')).toBe('<b>hi</b>');
    expect(asked).toHaveLength(1);
    const params = asked[0]?.params as { mode?: string; message: string };
    expect(params.mode).toBe('form');
    expect(params.message).toContain('filesystem__write_file (filesystem.write_file)');
    expect(params.message).toContain('{"content":"<b>hi</b>","path":"incidents/self.md"}');
    expect(params.message).toContain('a second person must approve this call');
    // The caller's verdict is a policy decision like any approver's, linked to the call.
    const decide = (await gateway.auditText())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { input: { action?: string }; parent_decision_id?: string })
      .find((e) => e.input.action === 'admin/approvals/decide');
    expect(decide?.parent_decision_id).toBeDefined();
    await client.close();
  });

  it('refuses the call when the caller declines', async () => {
    const client = await connect({ elicitation: {} }, () => ({ action: 'decline' }));
    const result = await write(client, 'incidents/declined.md', 'x');
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('olive denied approval of this call: by elicitation: decline');
    expect(existsSync(join(dir, 'demo/incidents/declined.md'))).toBe(false);
    await client.close();
  });
});

describe('self-approval decided elsewhere', () => {
  it('withdraws the form when the call is approved in the console', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, sub: 'olive', groups: ['oncall'] });
    const client = new Client(
      { name: 'slow-user', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    );
    let asked: { id: string; aborted: () => boolean } | undefined;
    client.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
      asked = { id: String(extra.requestId), aborted: () => extra.signal.aborted };
      // The user never answers.
      return new Promise<never>(() => undefined);
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway.mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    const call = write(client, 'incidents/elsewhere.md', 'e');
    for (let i = 0; i < 200 && asked === undefined; i++)
      await new Promise((r) => setTimeout(r, 20));
    const list = await fetch(`${gateway.url}/admin/approvals`, {
      headers: { authorization: `Bearer ${token}` },
    });
    // The requester is no approver of the queue; the id comes from the decision log.
    expect(list.status).toBe(403);
    const requested = (await gateway.auditText())
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { path: string; result: { event?: string; approval_id?: string } },
      )
      .filter((e) => e.path === 'mcpgate/approval' && e.result.event === 'requested')
      .at(-1);
    const res = await fetch(`${gateway.url}/admin/approvals/${requested?.result.approval_id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ verdict: 'approve' }),
    });
    expect(res.status).toBe(200);
    expect((await call).isError).toBeFalsy();
    for (let i = 0; i < 100 && !asked?.aborted(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(asked?.aborted()).toBe(true);
    await client.close();
  });
});

describe('URL mode', () => {
  it('answers -32042 with the approval page; the retry runs once approved', async () => {
    const client = await connect({ elicitation: { url: {} } });
    const completed: string[] = [];
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
      completed.push(n.params.elicitationId);
      return Promise.resolve();
    });
    const error = await write(client, 'incidents/url.md', 'u').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(McpError);
    const mcpError = error as McpError;
    expect(mcpError.code).toBe(-32042);
    const [elicitation] = (mcpError.data as { elicitations: Array<Record<string, string>> })
      .elicitations;
    expect(elicitation?.mode).toBe('url');
    expect(elicitation?.url).toBe(`${gateway.url}/console/approvals/${elicitation?.elicitationId}`);

    // The caller may approve their own call here (self: true), through the admin API.
    const token = await issuer.mint({ aud: gateway.mcpUrl, sub: 'olive', groups: ['oncall'] });
    const res = await fetch(`${gateway.url}/admin/approvals/${elicitation?.elicitationId}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ verdict: 'approve' }),
    });
    expect(res.status).toBe(200);
    // The client hears on its own stream that the page it was sent to is done.
    for (let i = 0; i < 100 && completed.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(completed).toEqual([elicitation?.elicitationId]);
    const retry = await write(client, 'incidents/url.md', 'u');
    expect(retry.isError).toBeFalsy();
    expect(readFileSync(join(dir, 'demo/incidents/url.md'), 'utf8')).toBe('u');
    await client.close();
  });
});

describe('a 2026-07-28 client', () => {
  it('is asked in the answer to its call, and its retry with the answer runs the call', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, sub: 'olive', groups: ['oncall'] });
    const call = {
      name: 'filesystem__write_file',
      arguments: { path: 'incidents/stateless.md', content: 's' },
    };
    const run = { 'Mcp-Run': 'approval-1' };
    const first = await sendStateless(gateway.mcpUrl, token, 'tools/call', call, run);
    expect(first.body.result).toMatchObject({ resultType: 'input_required' });
    const questions = first.body.result?.inputRequests as Record<string, unknown> | undefined;
    const [key, question] = Object.entries(questions ?? {})[0] ?? ['', undefined];
    expect(question).toMatchObject({
      method: 'elicitation/create',
      params: { mode: 'form', message: expect.stringContaining('filesystem__write_file') },
    });
    expect(existsSync(join(dir, 'demo/incidents/stateless.md'))).toBe(false);
    const retry = await sendStateless(
      gateway.mcpUrl,
      token,
      'tools/call',
      {
        ...call,
        inputResponses: { [key]: { action: 'accept', content: { comment: 'mine' } } },
        requestState: first.body.result?.requestState,
      },
      run,
    );
    expect(retry.body.result?.isError).toBeFalsy();
    expect(textOfResult(retry.body.result)).not.toContain('Denied');
    expect(readFileSync(join(dir, 'demo/incidents/stateless.md'), 'utf8')).toBe('s');
  });
});
