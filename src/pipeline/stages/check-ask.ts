// Stage (what an upstream asks of a client): the upstream's request must be what its method
// says (validated once with the SDK's schema: INVALID_PARAMS naming the problem otherwise), and the
// session's client must have declared the capability it needs (METHOD_NOT_FOUND otherwise, what the
// client itself would answer; the shared connection declares every capability the gateway
// relays, so this is where a client that cannot answer is spared the question). Nothing is
// decided or logged when this refuses.
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { INVALID_PARAMS, METHOD_NOT_FOUND } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import type { UpstreamAskAction } from '../../policy/input.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

type Fields = Record<string, unknown>;

interface AskSchema {
  safeParse(message: unknown):
    | { success: true; data: { params?: unknown } }
    | {
        success: false;
        error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> };
      };
}

const SCHEMAS: Record<UpstreamAskAction, AskSchema> = {
  'sampling/createMessage': CreateMessageRequestSchema,
  'elicitation/create': ElicitRequestSchema,
  'roots/list': ListRootsRequestSchema,
};

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The capability path the request needs of the client, and how to name it. */
function needed(action: UpstreamAskAction, params: Fields): string[][] {
  switch (action) {
    case 'sampling/createMessage': {
      const paths = [['sampling']];
      if (Array.isArray(params.tools) && params.tools.length > 0) paths.push(['sampling', 'tools']);
      const context = params.includeContext;
      if (context !== undefined && context !== 'none') paths.push(['sampling', 'context']);
      return paths;
    }
    case 'elicitation/create':
      return params.mode === 'url' ? [['elicitation', 'url']] : [['elicitation', 'form']];
    case 'roots/list':
      return [['roots']];
  }
}

/** Whether the client declared `path` (an empty elicitation capability means form mode). */
function declares(client: Fields, path: string[]): boolean {
  const elicitation = client.elicitation;
  if (path[0] === 'elicitation' && path[1] === 'form' && isObject(elicitation)) {
    if (!isObject(elicitation.form) && !isObject(elicitation.url)) return true;
  }
  let at: unknown = client;
  for (const key of path) {
    if (!isObject(at)) return false;
    at = at[key];
  }
  return isObject(at);
}

export function checkUpstreamAsk(): Stage {
  return {
    name: 'check what the upstream asks',
    when: 'allowed',
    run(ctx: RequestContext) {
      const ask = ctx.ask;
      if (!ask) throw new Error(`${ctx.action} reached its chain without the upstream's request`);
      const action = ctx.action as UpstreamAskAction;
      const parsed = SCHEMAS[action].safeParse({ method: action, params: ask.params });
      if (!parsed.success) {
        const issues = parsed.error.issues
          .map((issue) => {
            const path = issue.path.map(String).join('.');
            return path === '' ? issue.message : `${path}: ${issue.message}`;
          })
          .join('; ');
        throw new RpcError(INVALID_PARAMS, `Invalid ${action} request: ${issues}`);
      }
      if (isObject(ask.params.task)) {
        throw new RpcError(
          INVALID_PARAMS,
          `mcpgate does not relay task-augmented ${action} requests (params.task)`,
        );
      }
      // roots/list from configured roots is the gateway's own answer: the client is not asked.
      if (action === 'roots/list' && ask.roots.from === 'config') return undefined;
      const client = ctx.session.record.clientCapabilities;
      for (const path of needed(action, ask.params)) {
        if (!declares(client, path)) {
          throw new RpcError(
            METHOD_NOT_FOUND,
            `the client of this session did not declare the ${path.join('.')} capability, so it cannot be asked ${action}`,
          );
        }
      }
      return undefined;
    },
  };
}
