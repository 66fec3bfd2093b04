// Stage (notifications/resources/updated): an upstream's update of a resource goes to a
// subscribed session only once the policy has decided that the session may still read it
// (this chain's decision, logged like any other). The notification names the resource by
// the address the session knows it by (the catalog's: mcpgate://<server>/<uri>, or the
// upstream's own URI for an upstream without prefix), on the session's own stream.
import type { Stage } from '../chain.js';
import type { RequestContext, SessionNotifier } from '../context.js';

export function deliverUpdate(notify: SessionNotifier): Stage {
  return {
    name: 'deliver the update to the session',
    when: 'allowed',
    async run(ctx: RequestContext) {
      const uri = ctx.params.uri;
      if (uri === undefined) throw new Error('an update without a resource');
      await notify(ctx.session.record.id, {
        method: 'notifications/resources/updated',
        params: { uri },
      });
      return undefined;
    },
  };
}
