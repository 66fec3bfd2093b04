// Stages (completion/complete): the values an upstream suggests are shown only where the
// policy makes them visible. Suggestions can carry what the session may not see (a file
// name, a customer's name), so they go back to the policy as catalog items of kind
// `completion_value` (id: the value) for one mcp/authz/visible evaluation, logged like a
// list's, and the client gets the visible ones, in the upstream's order. When some were
// left out, `total` is dropped (it would count them); `hasMore` stays.
import type { CatalogItemFact } from '../../policy/input.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

interface Completion {
  values: string[];
  total?: number;
  hasMore?: boolean;
}

/** The upstream's completion (the upstream client validated its shape). */
function completionOf(ctx: RequestContext): Completion {
  const result = ctx.result as { completion?: Completion } | undefined;
  if (!result?.completion) throw new Error('completion values ran before the upstream answered');
  return result.completion;
}

/** Puts the suggested values into the input as catalog items, for the visible decision. */
export function offerCompletionValues(): Stage {
  return {
    name: 'completion values for the policy',
    when: 'allowed',
    run(ctx: RequestContext) {
      const { input, target } = ctx;
      if (!input || target?.kind !== 'completion') {
        throw new Error('completion values ran without a decided completion');
      }
      const { values } = completionOf(ctx);
      // Nothing suggested: nothing to decide (no evaluation, no decision-log line).
      if (values.length === 0) return undefined;
      const catalog: CatalogItemFact[] = [...new Set(values)].map((value) => ({
        kind: 'completion_value',
        id: value,
        server: target.server,
      }));
      ctx.input = { ...input, catalog };
      return undefined;
    },
  };
}

/** The answer with only the values the policy made visible. */
export function showCompletionValues(): Stage {
  return {
    name: 'show visible completion values',
    when: 'allowed',
    run(ctx: RequestContext) {
      const completion = completionOf(ctx);
      if (completion.values.length === 0) return undefined;
      const ids = ctx.visible?.ids;
      if (!ids) throw new Error('completion values were shown before they were decided');
      const values = completion.values.filter((value) => ids.has(value));
      if (values.length === completion.values.length) return undefined;
      const shown: Completion = { ...completion, values };
      delete shown.total;
      ctx.result = { ...(ctx.result as Record<string, unknown>), completion: shown };
      return undefined;
    },
  };
}
