// Stage: the list answer, with only the items the policy made visible, in catalog order.
// Later stages may add to it (stages/cache-directives.ts).
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
          ctx.result = { tools };
          return undefined;
        }
        case 'prompts/list': {
          const prompts = [];
          for (const p of catalog.prompts.values()) if (ids.has(p.id)) prompts.push(p.exposed);
          ctx.result = { prompts };
          return undefined;
        }
        case 'resources/list': {
          const resources = [];
          for (const r of catalog.resources.values()) if (ids.has(r.id)) resources.push(r.exposed);
          ctx.result = { resources };
          return undefined;
        }
        case 'resources/templates/list':
          ctx.result = {
            resourceTemplates: catalog.templates.filter((t) => ids.has(t.id)).map((t) => t.exposed),
          };
          return undefined;
        default:
          throw new Error(`show visible has no rule for ${ctx.action}`);
      }
    },
  };
}
