// End-to-end: the quickstart's code-review policy enforced through the real gateway process,
// the real reference servers (stdio children from npm), a real SDK client over HTTP, and
// real JWTs verified against a real JWKS endpoint. A third upstream (the lab fixture, with
// instructions of its own) is one the purpose does not use: its tools stay hidden and its
// instructions are not shown.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { callTool, connectEngineer, INITIALIZE, rawPost, textOf } from './support/client.js';
import {
  quickstartUpstreams,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { labServer } from './support/policies.js';
import { sendStateless } from './support/stateless.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
let gateway: GatewayProcess;
let client: Client;

beforeAll(async () => {
  issuer = await startIssuer();
  gateway = await startGatewayProcess({
    issuer,
    upstreams: {
      ...quickstartUpstreams(),
      lab: labServer({ LAB_INSTRUCTIONS: 'The lab server: call crash to test restarts.' }),
    },
  });
  client = await connectEngineer(gateway.mcpUrl, issuer);
});

afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  await issuer?.close();
});

async function expectAllowed(name: string, args: Record<string, unknown>): Promise<string> {
  const result = await callTool(client, name, args);
  expect({ name, args, isError: result.isError ?? false, text: textOf(result) }).toMatchObject({
    isError: false,
  });
  return textOf(result);
}

async function expectDenied(
  name: string,
  args: Record<string, unknown>,
  reason: string,
): Promise<void> {
  const result = await callTool(client, name, args);
  expect(result.isError).toBe(true);
  expect(textOf(result)).toContain('Denied by policy');
  expect(textOf(result)).toContain(reason);
}

describe('tools/list shows only what the purpose allows', () => {
  it('lists the read tools and the allow-listed everything tools, and nothing else', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toContain('filesystem__read_text_file');
    expect(names).toContain('filesystem__list_directory');
    expect(names).toContain('everything__echo');
    expect(names).toContain('everything__get-sum');
    expect(names).not.toContain('filesystem__write_file');
    expect(names).not.toContain('filesystem__edit_file');
    expect(names).not.toContain('filesystem__move_file');
    expect(names).not.toContain('everything__get-env');
    expect(names.every((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n))).toBe(true);
  });
});

describe('instructions: only those of the servers the purpose uses', () => {
  it('shows a 2026-07-28 run the same in a server/discover after its first request', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, groups: ['engineering'] });
    const run = { 'Mcp-Run': 'discover-later' };
    await sendStateless(gateway.mcpUrl, token, 'tools/list', {}, run);
    for (let i = 0; i < 2; i++) {
      const discovered = await sendStateless(gateway.mcpUrl, token, 'server/discover', {}, run);
      const text = String(discovered.body.result?.instructions);
      expect(text).toContain('## Instructions from upstream server "everything"');
      expect(text).not.toContain('"lab"');
    }
  });

  it("shows everything's instructions (code-review uses it) and not the lab's", () => {
    const text = client.getInstructions() ?? '';
    expect(text).toContain('## Instructions from upstream server "everything"');
    expect(text).toContain('# Everything Server');
    expect(text).not.toContain('"lab"');
    expect(text).not.toContain('call crash');
  });

  it("keeps the lab's tools hidden too", async () => {
    const { tools } = await client.listTools();
    expect(tools.some((t) => t.name.startsWith('lab__'))).toBe(false);
  });
});

describe('filesystem read tools: src/**/*.{ts,tsx} only, never secrets', () => {
  it.each([['src/app.ts'], ['src/components/Button.tsx']])('allows %s', async (path) => {
    const text = await expectAllowed('filesystem__read_text_file', { path });
    expect(text.length).toBeGreaterThan(0);
  });

  it.each([
    ['src/.env.ts', 'secret'],
    ['src/config/secrets.ts', 'secret'],
    ['lib/legacy.js', 'src/'],
    ['src/x.js', 'src/'],
    ['.env', ''],
    ['src/../.env', '..'],
    ['src/a/../../.env.ts', '..'],
    ['/etc/passwd', 'absolute'],
    ['src%2F..%2F.env', 'percent-encoding %2F'],
    ['src/%73ecrets.ts', 'percent-encoding %73, which a server that decodes it'],
    ['src/\uff53ecrets.ts', 'U+FF53, which reads as "s" in Unicode compatibility form (NFKC)'],
    ['src/SECRET~1.ts', 'looks like a Windows short name'],
    ['src\u2215..\u2215.env', 'DIVISION SLASH, which looks like /'],
    ['./src/config/secrets.ts', '(read as "src/config/secrets.ts") looks like a secret'],
  ])('denies %s', async (path, reason) => {
    await expectDenied('filesystem__read_text_file', { path }, reason);
  });

  // Paths as agents write them: the same file as src/app.ts, read through the real server.
  it.each(['./src/app.ts', 'src//app.ts', './src/./app.ts'])(
    'allows %s, read as src/app.ts',
    async (path) => {
      const plain = await expectAllowed('filesystem__read_text_file', { path: 'src/app.ts' });
      expect(await expectAllowed('filesystem__read_text_file', { path })).toBe(plain);
    },
  );

  it('checks every path of read_multiple_files', async () => {
    await expectAllowed('filesystem__read_multiple_files', {
      paths: ['src/app.ts', 'src/components/Button.tsx'],
    });
    await expectDenied(
      'filesystem__read_multiple_files',
      { paths: ['src/app.ts', 'src/config/secrets.ts'] },
      'secret',
    );
  });

  it("refuses a read without a path before the policy: the tool's inputSchema requires one", async () => {
    await expect(
      client.callTool({ name: 'filesystem__read_text_file', arguments: {} }),
    ).rejects.toThrow(
      /Invalid arguments for tool filesystem__read_text_file: \/ must have required property 'path'/,
    );
  });

  it('allows listing src and denies listing the root', async () => {
    const listing = await expectAllowed('filesystem__list_directory', { path: 'src' });
    expect(listing).toContain('app.ts');
    await expectDenied('filesystem__list_directory', { path: '.' }, '');
  });
});

describe('write tools are denied for code-review', () => {
  it.each([
    ['filesystem__write_file', { path: 'src/new.ts', content: 'x' }],
    ['filesystem__edit_file', { path: 'src/app.ts', edits: [{ oldText: 'a', newText: 'b' }] }],
    ['filesystem__create_directory', { path: 'src/newdir' }],
    ['filesystem__move_file', { source: 'src/app.ts', destination: 'src/moved.ts' }],
  ])('denies %s', async (name, args) => {
    await expectDenied(name, args, 'read-only');
  });

  it('left the demo folder untouched', () => {
    expect(readFileSync(`${gateway.dir}/demo/src/app.ts`, 'utf8')).toContain('Review me');
  });
});

describe('server-everything tools only as the policy lists them', () => {
  it('allows echo and get-sum', async () => {
    expect(await expectAllowed('everything__echo', { message: 'hello' })).toContain('hello');
    expect(await expectAllowed('everything__get-sum', { a: 2, b: 3 })).toContain('5');
  });

  it('denies get-env with its own reason', async () => {
    await expectDenied('everything__get-env', {}, 'environment');
  });

  it('denies a tool that is not on the list', async () => {
    await expectDenied('everything__toggle-simulated-logging', {}, 'allow-list');
  });
});

describe('resources and prompts are decided too', () => {
  it('lists and reads the static documents only', async () => {
    const { resources } = await client.listResources();
    expect(resources.length).toBeGreaterThan(0);
    expect(
      resources.every((r) =>
        r.uri.startsWith('mcpgate://everything/demo://resource/static/document/'),
      ),
    ).toBe(true);
    const first = resources[0]!;
    const read = await client.readResource({ uri: first.uri });
    expect(read.contents[0]?.uri).toBe(first.uri);
    await expect(
      client.readResource({ uri: 'mcpgate://everything/demo://resource/dynamic/text/1' }),
    ).rejects.toThrow(/Denied by policy/);
  });

  it('shows no resource templates for code-review', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates).toEqual([]);
  });

  it('allows simple-prompt only', async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(['everything__simple-prompt']);
    const prompt = await client.getPrompt({ name: 'everything__simple-prompt' });
    expect(prompt.messages.length).toBeGreaterThan(0);
    await expect(
      client.getPrompt({ name: 'everything__args-prompt', arguments: { city: 'x' } }),
    ).rejects.toThrow(/Denied by policy/);
  });
});

describe('forwarding details', () => {
  it('relays progress notifications under the client token', async () => {
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(result.isError ?? false).toBe(false);
    expect(progress).toEqual([1, 2, 3]);
  });

  it('cancels the upstream call when the client aborts', async () => {
    const controller = new AbortController();
    const call = client.callTool(
      {
        name: 'everything__trigger-long-running-operation',
        arguments: { duration: 20, steps: 20 },
      },
      undefined,
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort('test cancels'), 300);
    await expect(call).rejects.toThrow();
    // The session keeps working after a cancellation.
    expect(await expectAllowed('everything__echo', { message: 'after cancel' })).toContain(
      'after cancel',
    );
  });

  it('refuses an unknown tool with a clear error', async () => {
    await expect(callTool(client, 'nosuch__tool', {})).rejects.toThrow(
      /unknown tool "nosuch__tool"/,
    );
  });
});

describe('audit', () => {
  it('writes every decision as an OPA decision-log line, without the bearer token', async () => {
    await callTool(client, 'everything__get-env', {});
    const lines = (await gateway.auditText()).trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const denied = events.filter(
      (e) =>
        e.path === 'mcp/authz/decision' &&
        (e.input as { tool?: { id?: string } }).tool?.id === 'everything.get-env',
    );
    expect(denied.length).toBeGreaterThan(0);
    const event = denied[denied.length - 1]!;
    expect(event).toMatchObject({
      labels: { id: 'e2e', type: 'mcpgate' },
      result: { allow: false },
    });
    expect(typeof event.decision_id).toBe('string');
    expect(event.requested_by).toBe('127.0.0.1');
    expect(typeof event.timestamp).toBe('string');
    expect((event.bundles as { mcpgate: { revision: string } }).mcpgate.revision).toMatch(/^rego-/);
    expect((event.metrics as Record<string, number>).timer_rego_query_eval_ns).toBeGreaterThan(0);
    expect(events.some((e) => e.path === 'mcp/authz/visible')).toBe(true);
    // No JWT (three base64url segments starting with eyJ) anywhere in the log.
    expect(await gateway.auditText()).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });

  it('sends the whole-session summary, and no history: no shipped rule can read it', async () => {
    await expectAllowed('everything__echo', { message: 'history' });
    const lines = (await gateway.auditText()).trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]!) as {
      input: {
        request: { time_ns: number };
        session: {
          history?: unknown[];
          summary: Record<
            string,
            Record<string, { allowed: number; denied: number; last_ns: number }>
          >;
          counters: { calls: number };
        };
      };
    };
    const { history, summary, counters } = last.input.session;
    // `mcpgate policy build` proved that no rule reads input.session.history, so the
    // gateway leaves it out of the input (and so of the decision log).
    expect(history).toBeUndefined();
    expect(counters.calls).toBeGreaterThan(3);
    // The summary counts every earlier decided call of the session, by target.
    const echo = summary.tools?.['everything.echo'];
    expect(echo!.allowed).toBeGreaterThanOrEqual(1);
    expect(Number.isInteger(echo!.last_ns)).toBe(true);
    expect(echo!.last_ns).toBeLessThan(last.input.request.time_ns);
    const total = Object.values(summary)
      .flatMap((byTarget) => Object.values(byTarget))
      .reduce((n, t) => n + t.allowed + t.denied, 0);
    expect(total).toBe(counters.calls);
  });
});

describe('session/open refusals read as sentences', () => {
  it('a misspelled purpose, and one outside the caller groups', async () => {
    const open = async (purpose: string, groups: string[]): Promise<string> => {
      const res = await rawPost(gateway.mcpUrl, INITIALIZE, {
        authorization: `Bearer ${await issuer.mint({ aud: gateway.mcpUrl, groups })}`,
        'mcp-purpose': purpose,
      });
      expect(res.status).toBe(403);
      return (JSON.parse(res.text) as { error: { message: string } }).error.message;
    };
    expect(await open('echo-dmeo', ['engineering'])).toBe(
      'Denied by policy: cannot open a session of purpose echo-dmeo: no policy for purpose echo-dmeo',
    );
    expect(await open('documentation', ['sales'])).toBe(
      'Denied by policy: cannot open a session of purpose documentation: documentation needs ' +
        'membership in one of the groups (engineering, technical-writers) or the Docs.Write app role',
    );
  });
});
