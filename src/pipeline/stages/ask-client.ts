// Stage (what an upstream asks of a client, allowed): the question goes to the session's
// client, on the stream of the client request the upstream is serving (else the session's
// own stream), and the client's answer, checked with the SDK's schema for it, is what the
// upstream gets. The upstream withdrawing its request, or the client cancelling the request
// it belongs to, withdraws the question. A URL-mode elicitation is remembered, so that the
// upstream's later notifications/elicitation/complete reaches this session alone.
import {
  CreateMessageResultSchema,
  CreateMessageResultWithToolsSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { INTERNAL_ERROR } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import type { UrlElicitations } from '../url-elicitations.js';

interface ResultSchema {
  safeParse(value: unknown):
    | { success: true }
    | {
        success: false;
        error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> };
      };
}

function resultSchema(ctx: RequestContext): ResultSchema {
  switch (ctx.action) {
    case 'sampling/createMessage':
      return Array.isArray(ctx.ask?.params.tools)
        ? CreateMessageResultWithToolsSchema
        : CreateMessageResultSchema;
    case 'elicitation/create':
      return ElicitResultSchema;
    default:
      return ListRootsResultSchema;
  }
}

export function askTheClient(elicitations: UrlElicitations): Stage {
  return {
    name: 'ask the client',
    when: 'allowed',
    async run(ctx: RequestContext) {
      const { ask, exchange } = ctx;
      if (!ask || !exchange) throw new Error(`${ctx.action} has no client to ask`);
      const params = ask.params;
      const url = ctx.action === 'elicitation/create' && params.mode === 'url';
      if (url && typeof params.elicitationId === 'string') {
        elicitations.remember(ask.server, params.elicitationId, ctx.session.record.id);
      }
      const answer = await exchange.sendRequest({ method: ctx.action, params }, ask.cancellation);
      const checked = resultSchema(ctx).safeParse(answer);
      if (!checked.success) {
        const issues = checked.error.issues
          .map((issue) => `${issue.path.map(String).join('.') || 'result'}: ${issue.message}`)
          .join('; ');
        throw new RpcError(
          INTERNAL_ERROR,
          `the client answered ${ctx.action} with an invalid result: ${issues}`,
        );
      }
      ctx.result = answer;
      return undefined;
    },
  };
}
