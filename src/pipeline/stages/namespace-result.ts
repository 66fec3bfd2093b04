// Stage: every resource address in an upstream's answer is shown in the gateway's namespaced
// form, `mcpgate://<server>/<upstream uri>` (as they are for an upstream whose prefix is ""),
// so that a client can read back every URI it is
// given (resources/read of that URI reaches the same upstream resource, decided by the
// policy as `server:uri`), and two servers' `file:///…` never look alike. The places:
//   tools/call      content: resource_link.uri, resource (embedded).resource.uri
//   prompts/get     messages[].content: the same two kinds
//   resources/read  contents[].uri
// Text that merely mentions a URI is the upstream's prose and is left as it is. An answer
// with no address in it is passed on as the same object (no copy on the common path).
import type { Catalog } from '../../upstreams/catalog.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null;
}

/**
 * One content block with its address namespaced; the same object when it has none. The
 * upstream client validated the result with the SDK's schemas, so the fields are strings
 * where a block of that type has them; anything else is left alone.
 */
export function namespaceContent(catalog: Catalog, server: string, block: unknown): unknown {
  if (!isFields(block)) return block;
  if (block.type === 'resource_link' && typeof block.uri === 'string') {
    const uri = catalog.exposeUri(server, block.uri);
    return uri === block.uri ? block : { ...block, uri };
  }
  if (block.type === 'resource' && isFields(block.resource)) {
    const { resource } = block;
    if (typeof resource.uri !== 'string') return block;
    const uri = catalog.exposeUri(server, resource.uri);
    return uri === resource.uri ? block : { ...block, resource: { ...resource, uri } };
  }
  return block;
}

/** `fields` with `uri`, the same object when it already has it. */
function withUri(fields: Fields, uri: string): Fields {
  return fields.uri === uri ? fields : { ...fields, uri };
}

/** `items` with `change` applied, copied only when some item changed. */
function copiedWhereChanged(items: unknown[], change: (item: unknown) => unknown): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const changed = change(item);
    if (changed !== item) (out ??= items.slice())[i] = changed;
  }
  return out ?? items;
}

/** The answer of this request's upstream with its addresses namespaced. */
export function namespaceResult(catalog: Catalog, ctx: RequestContext): unknown {
  const { target, result } = ctx;
  if (!target || !isFields(result)) return result;
  const server = target.server;
  switch (target.kind) {
    case 'tool': {
      if (!Array.isArray(result.content)) return result;
      const content = copiedWhereChanged(result.content, (block) =>
        namespaceContent(catalog, server, block),
      );
      return content === result.content ? result : { ...result, content };
    }
    case 'prompt': {
      if (!Array.isArray(result.messages)) return result;
      const messages = copiedWhereChanged(result.messages, (message) => {
        if (!isFields(message)) return message;
        const content = namespaceContent(catalog, server, message.content);
        return content === message.content ? message : { ...message, content };
      });
      return messages === result.messages ? result : { ...result, messages };
    }
    case 'completion':
      // Completion values are argument values, not addresses.
      return result;
    case 'resource': {
      if (!Array.isArray(result.contents)) return result;
      const contents = copiedWhereChanged(result.contents, (c) =>
        isFields(c) && typeof c.uri === 'string' ? withUri(c, catalog.exposeUri(server, c.uri)) : c,
      );
      return contents === result.contents ? result : { ...result, contents };
    }
  }
}

/** `catalogs.catalog` is read per request: the catalog is rebuilt when upstreams change. */
export function namespaceResultAddresses(catalogs: { readonly catalog: Catalog }): Stage {
  return {
    name: 'namespace addresses in the result',
    when: 'allowed',
    run(ctx: RequestContext) {
      ctx.result = namespaceResult(catalogs.catalog, ctx);
      return undefined;
    },
  };
}
