// Stage: find what the request is about in the federated catalog (a tool, a resource, a
// prompt). An unknown name is a protocol error (invalid params), not a policy decision:
// nothing is decided or logged about a target that does not exist.
import { INVALID_PARAMS, RpcError } from '../../mcp/jsonrpc/errors.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

function unknown(kind: 'tool' | 'prompt', name: string | undefined): RpcError {
  return new RpcError(
    INVALID_PARAMS,
    `unknown ${kind} "${name}"; call ${kind}s/list to see the ${kind}s this session may use`,
  );
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
          ctx.target = { kind: 'tool', server, name, id, entry };
          ctx.args = params.arguments ?? {};
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
          ctx.target = { kind: 'resource', server, uri: target.uri, id: `${server}:${target.uri}` };
          return undefined;
        }
        default:
          throw new Error(`resolve target has no rule for ${ctx.action}`);
      }
    },
  };
}
