// Stage (tasks/get, tasks/result, tasks/cancel): the request goes to the upstream that runs
// the task, over the session's connection to it, with the upstream's own task id and the
// credential of the credential stage; the answer names the task by the gateway's id again.
// tasks/result answers with the tool call's result, which the upstream client checks as a
// tools/call result and the next stages treat as the direct call's (addresses, output
// schema). The W3C trace context goes with it as with forward.ts.
import { INTERNAL_ERROR, RpcError } from '../../mcp/jsonrpc/errors.js';
import { UpstreamUnavailableError, type CallOptions } from '../../upstreams/connection.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import { withTaskId } from './bind-task.js';
import { upstreamTraceContext } from './observe-upstream.js';

export function forwardTask(registry: UpstreamRegistry): Stage {
  return {
    name: 'forward to the upstream that runs the task',
    when: 'allowed',
    async run(ctx: RequestContext) {
      const { task } = ctx;
      if (!task) throw new Error('forward task ran before the task was found');
      const method = ctx.action;
      if (method !== 'tasks/get' && method !== 'tasks/result' && method !== 'tasks/cancel') {
        throw new Error(`forward task has no rule for ${method}`);
      }
      const headers = ctx.credential?.headers ?? {};
      const options: CallOptions = { cancellation: ctx.exchange?.cancellation, headers };
      const expiresAt = ctx.credential?.expiresAt;
      if (expiresAt !== undefined) options.headersExpireAt = expiresAt;
      const traceContext = upstreamTraceContext(ctx);
      if (traceContext !== undefined) options.traceHeaders = traceContext;
      try {
        const connection = await registry.connectionFor(
          task.target.server,
          task.sessionId,
          headers,
          expiresAt,
        );
        const params: { taskId: string; _meta?: Record<string, unknown> } = {
          taskId: task.upstreamId,
        };
        if (ctx.upstreamMeta !== undefined || traceContext !== undefined) {
          params._meta = { ...ctx.upstreamMeta, ...traceContext };
        }
        const result = await connection.taskRequest(method, params, options);
        // tasks/get and tasks/cancel answer with the task itself; tasks/result may name it.
        const renamed =
          method === 'tasks/result'
            ? withTaskId(result, task.id)
            : { taskId: task.id, ...withTaskId(result, task.id) };
        ctx.result = { ...result, ...renamed };
        return undefined;
      } catch (err) {
        if (!(err instanceof UpstreamUnavailableError)) throw err;
        throw new RpcError(INTERNAL_ERROR, err.message);
      }
    },
  };
}
