// Stage (tools/call run as a task): the task the upstream created is bound to this session
// and principal (pipeline/tasks.ts), and the client gets it under the gateway's own task
// id. The decision on the call was taken before it was forwarded, and covers the task's
// whole life: tasks/get, tasks/result and tasks/cancel are not decided again.
import { RELATED_TASK_META_KEY, type CreateTaskResult } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import type { TaskBindings } from '../tasks.js';

export function bindTask(registry: UpstreamRegistry, tasks: TaskBindings): Stage {
  return {
    name: 'bind the task to the session',
    when: 'allowed',
    // Synchronous for a call that is not a task (nearly all): no promise per call.
    run(ctx: RequestContext) {
      if (ctx.params.task === undefined) return undefined;
      return bind(ctx);
    },
  };

  async function bind(ctx: RequestContext): Promise<undefined> {
    const { target } = ctx;
    if (target?.kind !== 'tool') throw new Error('bind task ran without a tool call');
    const created = ctx.result as CreateTaskResult;
    const sessionId = ctx.session.record.id;
    // The connection the call went over (it exists: the call was just forwarded on it).
    const connection = await registry.connectionFor(target.server, sessionId);
    const now = Date.now();
    const ttl = created.task.ttl;
    const bound = tasks.bind(connection, {
      sessionId,
      principal: ctx.session.record.principal,
      upstreamId: created.task.taskId,
      target,
      obligations: ctx.obligations,
      call: { input: ctx.input!, decisionId: ctx.decisionId },
      expiresAt: typeof ttl === 'number' ? now + ttl : undefined,
    });
    ctx.result = { ...created, ...withTaskId(created, bound.id) };
    return undefined;
  }
}

/** The task (and a related-task `_meta`, if any) under the gateway's id. */
export function withTaskId(
  result: { task?: object; _meta?: Record<string, unknown> },
  id: string,
): { task?: object; _meta?: Record<string, unknown> } {
  const out: { task?: object; _meta?: Record<string, unknown> } = {};
  if (result.task !== undefined) out.task = { ...result.task, taskId: id };
  if (result._meta?.[RELATED_TASK_META_KEY] !== undefined) {
    out._meta = { ...result._meta, [RELATED_TASK_META_KEY]: { taskId: id } };
  }
  return out;
}
