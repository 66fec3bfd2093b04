// Stage (tasks/get, tasks/result, tasks/cancel): the task the request names, among the
// tasks this session's principal created in this session (pipeline/tasks.ts). Any other id
// (another session's, another user's, an expired or invented one) is the same "unknown
// task", so nobody learns that a task exists. The request then runs as the creating call
// ran: against its upstream and tool, with the credential its decision obliged.
import { INVALID_PARAMS, RpcError } from '../../mcp/jsonrpc/errors.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import type { TaskBindings } from '../tasks.js';

export function resolveTask(registry: UpstreamRegistry, tasks: TaskBindings): Stage {
  return {
    name: 'find the task in this session',
    when: 'allowed',
    run(ctx: RequestContext) {
      const id = ctx.params.taskId ?? '';
      const { record } = ctx.session;
      const task = tasks.find(id, record.id, record.principal);
      if (!task) {
        throw new RpcError(
          INVALID_PARAMS,
          `unknown task "${id}"; tasks/list shows the tasks of this session`,
        );
      }
      const { server } = task.target;
      if (
        ctx.action === 'tasks/cancel' &&
        registry.catalog.capabilities.get(server)?.tasks?.cancel === undefined
      ) {
        throw new RpcError(
          INVALID_PARAMS,
          `upstream ${server} does not cancel tasks (its initialize result does not declare tasks.cancel)`,
        );
      }
      ctx.task = task;
      ctx.target = task.target;
      ctx.obligations = task.obligations;
      return undefined;
    },
  };
}
