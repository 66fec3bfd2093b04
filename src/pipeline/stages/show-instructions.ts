// Stage (session/open): the instructions the client gets in its initialize result. The
// gateway's own line first, then the instructions of every upstream the policy made visible
// (mcp/authz/visible over the `instruction` items of the session/open input), each under a
// heading that names the server and how its tools, prompts and resources are named here:
// an upstream's instructions speak of its own names, which the client sees prefixed.
import type { InstructionEntry } from '../../upstreams/catalog.js';
import { exposedUri } from '../../upstreams/catalog.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

/** What every session is told about the gateway itself. */
export const GATEWAY_INSTRUCTIONS =
  "mcpgate: every request is decided by your organisation's policy; denied calls say why.";

/** One upstream's instructions as a section of the combined text. */
export function instructionSection(entry: InstructionEntry): string {
  const names =
    entry.prefix === ''
      ? 'its tools and prompts keep their own names'
      : `its tools and prompts are named ${entry.prefix}<name>`;
  const resources =
    entry.prefix === '' ? 'addressed by their own URIs' : exposedUri(entry.server, '<uri>');
  return [
    `## Instructions from upstream server "${entry.server}"`,
    `Through this gateway ${names}, and its resources are ${resources}.`,
    '',
    entry.text,
  ].join('\n');
}

/** The gateway's line, then each visible upstream's section, in configuration order. */
export function combinedInstructions(
  entries: readonly InstructionEntry[],
  visible: ReadonlySet<string>,
): string {
  const sections = entries.filter((e) => visible.has(e.id)).map(instructionSection);
  return [GATEWAY_INSTRUCTIONS, ...sections].join('\n\n');
}

export function showInstructions(): Stage {
  return {
    name: 'combine the instructions the policy shows',
    when: 'allowed',
    run(ctx: RequestContext) {
      const entries = ctx.catalog?.instructions ?? [];
      const ids = ctx.visible?.ids;
      if (entries.length > 0 && !ids) {
        throw new Error('instructions were combined before they were decided');
      }
      ctx.instructions = combinedInstructions(entries, ids ?? new Set());
      return undefined;
    },
  };
}
