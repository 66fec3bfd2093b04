// Tasks (MCP 2025-11-25, experimental) through the gateway, end to end with the TS SDK
// client: server-everything's simulate-research-query and a fixture server's tools run as
// tasks. A task-augmented tools/call is decided when the task is created (input.task), the
// client polls and fetches it under the gateway's own task id, its result goes through the
// result stages of a direct call (inspected and decided as tools/result, addresses, output
// schema), and nobody but the session that created it finds it: not another session of the
// same user, not another user.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  GetPromptResultSchema,
  RELATED_TASK_META_KEY,
  TaskStatusNotificationSchema,
  type CallToolResult,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import { connectEngineer } from './support/client.js';
import { connectFeatureClient, featurePolicy } from './support/feature-purpose.js';
import {
  FIXTURE_SERVERS,
  quickstartUpstreams,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
let gateway: GatewayProcess;

interface Session {
  client: Client;
  statuses: Task[];
}

async function session(user: string): Promise<Session> {
  const client = await connectFeatureClient(gateway.mcpUrl, issuer, user);
  const statuses: Task[] = [];
  client.setNotificationHandler(TaskStatusNotificationSchema, (n) => {
    statuses.push(n.params);
  });
  return { client, statuses };
}

/** tools/call run as a task; resolves with the task as the client sees it. */
async function runAsTask(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  ttl = 60_000,
): Promise<Task> {
  const created = await client.request(
    { method: 'tools/call', params: { name, arguments: args, task: { ttl } } },
    CreateTaskResultSchema,
  );
  return created.task;
}

/** Runs `name` as a task, waits for it to finish and fetches its result. */
async function taskResult(client: Client, name: string): Promise<CallToolResult> {
  const task = await runAsTask(client, name);
  await finished(client, task.taskId);
  return client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
}

async function finished(client: Client, taskId: string): Promise<Task> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const task = await client.experimental.tasks.getTask(taskId);
    if (['completed', 'failed', 'cancelled'].includes(task.status)) return task;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${task.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Logged {
  path: string;
  decision_id: string;
  parent_decision_id?: string;
  session_id?: string;
  input: {
    action: string;
    tool?: { id: string };
    task?: { ttl_ms?: number };
    result?: { findings: Array<{ detector: string; excerpt: string }> };
  };
  result: { allow?: boolean; reasons?: string[] };
}

async function decisions(): Promise<Logged[]> {
  return (await gateway.auditText())
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Logged);
}

beforeAll(async () => {
  issuer = await startIssuer();
  // The feature-test purpose redacts secrets in results, as code-review does.
  const policy = featurePolicy();
  policy.amend(
    [
      'redact contains id if {',
      '\tdata.mcp.lib.findings.is_result_action',
      '\tsome id in data.mcp.lib.findings.result_ids_of_type("secret")',
      '}',
    ].join('\n'),
  );
  gateway = await startGatewayProcess({
    issuer,
    bundle: policy.bundle,
    upstreams: {
      everything: quickstartUpstreams().everything,
      tasks: {
        transport: 'stdio',
        command: process.execPath,
        args: [join(FIXTURE_SERVERS, 'task-server.js')],
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await issuer?.close();
});

describe('a tool run as a task', () => {
  let alice: Session;
  let task: Task;
  beforeAll(async () => {
    alice = await session('alice');
    task = await runAsTask(alice.client, 'everything__simulate-research-query', {
      topic: 'gateways',
    });
  });
  afterAll(async () => {
    await alice?.client.close();
  });

  it('is decided when it is created, with the task in the policy input', async () => {
    expect(task.status).toBe('working');
    expect(task.taskId).toMatch(/^t[A-Za-z0-9_-]{22}$/);
    const created = (await decisions()).filter(
      (d) => d.input.tool?.id === 'everything.simulate-research-query',
    );
    expect(created).toHaveLength(1);
    expect(created[0]?.input.task).toEqual({ ttl_ms: 60_000 });
    expect(created[0]?.result.allow).toBe(true);
  });

  it('is polled, listed and fetched under the gateway’s task id', async () => {
    const done = await finished(alice.client, task.taskId);
    expect(done).toMatchObject({ taskId: task.taskId, status: 'completed' });
    const { tasks } = await alice.client.experimental.tasks.listTasks();
    expect(tasks.map((t) => [t.taskId, t.status])).toEqual([[task.taskId, 'completed']]);
    const result = await alice.client.experimental.tasks.getTaskResult(
      task.taskId,
      CallToolResultSchema,
    );
    expect(JSON.stringify(result.content)).toContain('Research Report: gateways');
    expect(result._meta?.[RELATED_TASK_META_KEY]).toEqual({ taskId: task.taskId });
    // The upstream's status notifications reached the session, under the gateway's id.
    expect(alice.statuses.length).toBeGreaterThan(0);
    expect(new Set(alice.statuses.map((s) => s.taskId))).toEqual(new Set([task.taskId]));
    // Polling is bound to the task, not decided again: one decision, at creation.
    const logged = (await decisions()).filter(
      (d) => d.input.tool?.id === 'everything.simulate-research-query',
    );
    expect(logged).toHaveLength(1);
  });

  it('is found by no other session, of the same user or another', async () => {
    const again = await session('alice');
    const bob = await session('bob');
    for (const other of [again, bob]) {
      await expect(other.client.experimental.tasks.getTask(task.taskId)).rejects.toMatchObject({
        code: -32602,
        message: expect.stringContaining(`unknown task "${task.taskId}"`),
      });
      await expect(
        other.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema),
      ).rejects.toMatchObject({ code: -32602 });
      await expect(other.client.experimental.tasks.cancelTask(task.taskId)).rejects.toMatchObject({
        code: -32602,
      });
      expect((await other.client.experimental.tasks.listTasks()).tasks).toEqual([]);
      expect(other.statuses).toEqual([]);
      await other.client.close();
    }
  });
});

describe('a task’s result', () => {
  let carol: Session;
  beforeAll(async () => {
    carol = await session('carol');
  });
  afterAll(async () => {
    await carol?.client.close();
  });

  it('has its addresses namespaced and its structured content checked, as a direct call', async () => {
    const result = await taskResult(carol.client, 'tasks__linked');
    expect(result.content).toContainEqual(
      expect.objectContaining({
        type: 'resource_link',
        uri: 'mcpgate://tasks/file:///reports/1.txt',
      }),
    );
    expect(result.structuredContent).toEqual({ count: 1 });

    const misshapen = await runAsTask(carol.client, 'tasks__misshapen');
    await finished(carol.client, misshapen.taskId);
    await expect(
      carol.client.experimental.tasks.getTaskResult(misshapen.taskId, CallToolResultSchema),
    ).rejects.toMatchObject({
      code: -32602,
      message: expect.stringContaining(
        "Structured content does not match the tool's output schema",
      ),
    });
  });

  it('is inspected and decided as the result of its call (tools/result, under that call)', async () => {
    const result = await taskResult(carol.client, 'tasks__leaky');
    expect(result.content).toEqual([{ type: 'text', text: 'deploy with [REDACTED:secret]' }]);
    const logged = await decisions();
    const call = logged.find((d) => d.input.tool?.id === 'tasks.leaky');
    expect(call?.input.action).toBe('tools/call');
    const onResult = logged.filter((d) => d.parent_decision_id === call?.decision_id);
    expect(onResult).toHaveLength(1);
    expect(onResult[0]?.input.action).toBe('tools/result');
    expect(onResult[0]?.input.result?.findings).toEqual([
      expect.objectContaining({ detector: 'secret.github', excerpt: 'ghp_********… (40 chars)' }),
    ]);
    expect(await gateway.auditText()).not.toContain('aB3dE5fG7hJ9');
  });

  it('can be cancelled by the session that created it', async () => {
    const waits = await runAsTask(carol.client, 'tasks__waits');
    const cancelled = await carol.client.experimental.tasks.cancelTask(waits.taskId);
    expect(cancelled).toMatchObject({ taskId: waits.taskId, status: 'cancelled' });
    expect(await carol.client.experimental.tasks.getTask(waits.taskId)).toMatchObject({
      status: 'cancelled',
    });
  });
});

describe('refusals', () => {
  it('refuses a task the policy does not allow, as a JSON-RPC error with its reason', async () => {
    const dave = await session('dave');
    await expect(runAsTask(dave.client, 'tasks__linked', {}, 3_600_000)).rejects.toMatchObject({
      code: -32010,
      message: expect.stringContaining('a task may be kept at most 10 minutes'),
    });
    const reviewer = await connectEngineer(gateway.mcpUrl, issuer);
    await expect(
      runAsTask(reviewer, 'everything__simulate-research-query', { topic: 'x' }),
    ).rejects.toMatchObject({
      code: -32010,
      message: expect.stringContaining('is not in the code-review allow-list'),
    });
    await reviewer.close();
    await dave.client.close();
  });

  it('refuses a task for a tool that does not run as one', async () => {
    const erin = await session('erin');
    await expect(
      runAsTask(erin.client, 'everything__echo', { message: 'x' }),
    ).rejects.toMatchObject({
      code: -32601,
      message: expect.stringContaining('does not run as a task'),
    });
    // Other requests take no task: the task metadata is ignored, as the spec says.
    const prompt = await erin.client.request(
      { method: 'prompts/get', params: { name: 'everything__simple-prompt', task: { ttl: 1000 } } },
      GetPromptResultSchema,
    );
    expect(prompt.messages.length).toBeGreaterThan(0);
    await erin.client.close();
  });

  it('holds at most 100 tasks per session', async () => {
    const frank = await session('frank');
    for (let i = 0; i < 100; i++) await runAsTask(frank.client, 'tasks__linked');
    await expect(runAsTask(frank.client, 'tasks__linked')).rejects.toMatchObject({
      code: -32010,
      message: expect.stringContaining('this session holds 100 tasks, the most it may'),
    });
    await frank.client.close();
  });
});
