// Stage: the list answer, with only the items the policy made visible, in catalog order.
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function showVisible(): Stage {
  return {
    name: 'show visible items',
    when: 'allowed',
    run(ctx: RequestContext) {
      const catalog = ctx.catalog;
      const ids = ctx.visible?.ids;
      if (!catalog || !ids) throw new Error('show visible ran before the list was decided');
      switch (ctx.action) {
        case 'tools/list': {
          const tools = [];
          for (const t of catalog.tools.values()) if (ids.has(t.id)) tools.push(t.exposed);
          return { respond: { tools } };
        }
        case 'prompts/list': {
          const prompts = [];
          for (const p of catalog.prompts.values()) if (ids.has(p.id)) prompts.push(p.exposed);
          return { respond: { prompts } };
        }
        case 'resources/list': {
          const resources = [];
          for (const r of catalog.resources.values()) if (ids.has(r.id)) resources.push(r.exposed);
          return { respond: { resources } };
        }
        case 'resources/templates/list':
          return {
            respond: {
              resourceTemplates: catalog.templates
                .filter((t) => ids.has(t.id))
                .map((t) => t.exposed),
            },
          };
        default:
          throw new Error(`show visible has no rule for ${ctx.action}`);
      }
    },
  };
}
