// Stage (roots/list from an upstream): an upstream whose roots are configured
// (`upstreams.<name>.roots`, none by default) gets them from the gateway, once the policy
// allowed it; the client is never asked. A client's roots name directories on its own
// machine, and a filesystem server takes the roots it is given as its sandbox: answering
// with the client's would let a client choose the server's sandbox. `roots: client` asks
// the client instead (the next stage), where the policy allows it.
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function answerConfiguredRoots(): Stage {
  return {
    name: 'answer with the configured roots',
    when: 'allowed',
    run(ctx: RequestContext) {
      const roots = ctx.ask?.roots;
      if (roots?.from !== 'config') return undefined;
      return { respond: { roots: roots.uris.map((uri) => ({ uri })) } };
    },
  };
}
