// Stage (tasks/list): the tasks of this session, as their upstreams report them now: one
// tasks/get per task (each through the tasks/get chain, with its credential), in the order
// they were created. The upstreams' own tasks/list is never asked: on a shared connection it
// would list other sessions' tasks. A task whose upstream cannot say (it is down, or no
// longer knows the task) is left out of this answer; the gateway forgets a task at the end
// of its ttl or of its session.
import type { Stage } from '../chain.js';
import { RequestContext } from '../context.js';
import type { TaskBindings } from '../tasks.js';

/** Runs one request's chain (the pipeline's run). */
export type RunChain = (ctx: RequestContext) => Promise<unknown>;

export function listTasks(tasks: TaskBindings, run: RunChain): Stage {
  return {
    name: 'ask each task of this session for its status',
    when: 'allowed',
    async run(ctx: RequestContext) {
      const mine = tasks.ofSession(ctx.session.record.id);
      const answers = await Promise.all(
        mine.map(async (task) => {
          const get = new RequestContext(
            'tasks/get',
            ctx.requestId,
            ctx.caller,
            ctx.session,
            ctx.protocolVersion,
            { taskId: task.id },
            ctx.exchange,
            ctx.now,
            // Its spans are children of this request's (when it is traced).
            ctx.trace?.upstreamCarrier(ctx.incomingTrace?.baggage) ?? ctx.incomingTrace,
          );
          return run(get).catch(() => undefined);
        }),
      );
      ctx.result = { tasks: answers.filter((task) => task !== undefined) };
      return undefined;
    },
  };
}
