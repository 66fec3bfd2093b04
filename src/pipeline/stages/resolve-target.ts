// Stage: find what the request is about in the federated catalog (a tool, a resource, a
// prompt, the prompt or resource template of a completion). An unknown name is a protocol
// error (invalid params), not a policy decision: nothing is decided or logged about a
// target that does not exist, nor about a feature its upstream does not offer (completions,
// resource subscriptions, tasks), which the upstream would refuse anyway.
import type { ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { METHOD_NOT_FOUND } from '../../mcp/jsonrpc/codes.js';
import { INVALID_PARAMS, RpcError } from '../../mcp/jsonrpc/errors.js';
import type { Catalog } from '../../upstreams/catalog.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { CompletionFacts } from '../../policy/input.js';
import type { Stage } from '../chain.js';
import type { RequestContext, RequestParams } from '../context.js';

function unknown(kind: 'tool' | 'prompt', name: string | undefined): RpcError {
  return new RpcError(
    INVALID_PARAMS,
    `unknown ${kind} "${name}"; call ${kind}s/list to see the ${kind}s this session may use`,
  );
}

/** The prompt (by exposed name) or resource template (as listed) a completion names. */
function completionRef(catalog: Catalog, ref: RequestParams['ref']): CompletionFacts['ref'] {
  if (ref?.type === 'ref/prompt') {
    const entry = catalog.prompts.get(ref.name);
    if (!entry) throw unknown('prompt', ref.name);
    const { server, name, id } = entry;
    return { kind: 'prompt', server, name, id };
  }
  const template = catalog.templatesByExposed.get(ref?.uri ?? '');
  if (!template) {
    throw new RpcError(
      INVALID_PARAMS,
      `unknown resource template "${ref?.uri}"; call resources/templates/list to see the templates this session may use`,
    );
  }
  const { server, uriTemplate, id } = template;
  return { kind: 'resource_template', server, uri: uriTemplate, id };
}

/** Refuses a request whose upstream does not declare the capability it needs. */
function requireCapability(
  catalog: Catalog,
  server: string,
  what: string,
  has: (capabilities: ServerCapabilities) => unknown,
): void {
  const capabilities = catalog.capabilities.get(server);
  if (capabilities === undefined || !has(capabilities)) {
    throw new RpcError(
      INVALID_PARAMS,
      `upstream ${server} does not offer ${what} (its initialize result does not declare it)`,
    );
  }
}

export function resolveTarget(registry: UpstreamRegistry): Stage {
  return {
    name: 'resolve target',
    when: 'allowed',
    run(ctx: RequestContext) {
      const { params } = ctx;
      switch (ctx.action) {
        case 'tools/call': {
          const entry = registry.catalog.tools.get(params.name ?? '');
          if (!entry) throw unknown('tool', params.name);
          const { server, name, id } = entry;
          if (params.task !== undefined) {
            // MCP 2025-11-25: a tool declares whether it may run as a task; absent is forbidden.
            const support = entry.exposed.execution?.taskSupport ?? 'forbidden';
            if (support === 'forbidden') {
              throw new RpcError(
                METHOD_NOT_FOUND,
                `tool ${entry.exposed.name} does not run as a task (its execution.taskSupport is ${support}); call it without params.task`,
              );
            }
            requireCapability(
              registry.catalog,
              server,
              'tools/call as a task (tasks.requests.tools.call)',
              (c) => c.tasks?.requests?.tools?.call,
            );
          }
          ctx.target = { kind: 'tool', server, name, id, entry };
          ctx.args = params.arguments ?? {};
          return undefined;
        }
        case 'completion/complete': {
          const ref = completionRef(registry.catalog, params.ref);
          requireCapability(registry.catalog, ref.server, 'completions', (c) => c.completions);
          ctx.target = { kind: 'completion', server: ref.server, id: ref.id, ref };
          return undefined;
        }
        case 'prompts/get': {
          const entry = registry.catalog.prompts.get(params.name ?? '');
          if (!entry) throw unknown('prompt', params.name);
          const { server, name, id } = entry;
          ctx.target = { kind: 'prompt', server, name, id, entry };
          ctx.args = params.arguments ?? {};
          return undefined;
        }
        case 'resources/subscribe':
        case 'resources/unsubscribe':
        case 'notifications/resources/updated':
        case 'resources/read': {
          const uri = params.uri ?? '';
          const target = registry.catalog.resolveUri(uri);
          if (target && 'ambiguous' in target) {
            throw new RpcError(
              INVALID_PARAMS,
              `resource "${uri}" is not listed by any upstream, and upstreams ` +
                `${target.ambiguous.join(', ')} have no prefix, so its server cannot be told; ` +
                'call resources/list (or use an address it shows)',
            );
          }
          if (!target || !registry.hasServer(target.server)) {
            throw new RpcError(
              INVALID_PARAMS,
              `unknown resource "${uri}"; call resources/list to see the resources this session may read`,
            );
          }
          const { server } = target;
          if (ctx.action === 'resources/subscribe') {
            requireCapability(
              registry.catalog,
              server,
              'resource subscriptions (resources.subscribe)',
              (c) => c.resources?.subscribe,
            );
          }
          ctx.target = { kind: 'resource', server, uri: target.uri, id: `${server}:${target.uri}` };
          return undefined;
        }
        default:
          throw new Error(`resolve target has no rule for ${ctx.action}`);
      }
    },
  };
}
