// Stage: the throttle obligation carried out. An allowed call the policy wants slowed down
// waits delay_ms (at most MAX_THROTTLE_MS, the obligation's bound) before it goes to the
// upstream, instead of being refused; a client that cancels meanwhile stops the wait.
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function throttleWhenObliged(): Stage {
  return {
    name: 'throttle when obliged',
    when: 'allowed',
    // Synchronous when there is nothing to wait for: no promise, no microtask per call.
    run(ctx: RequestContext) {
      const throttle = ctx.obligations.throttle;
      if (throttle === undefined) return undefined;
      const cancellation = ctx.exchange?.cancellation;
      return new Promise<undefined>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          cancellation?.offCancel(done);
          resolve(undefined);
        };
        const timer = setTimeout(done, throttle.delay_ms);
        cancellation?.onCancel(done);
      });
    },
  };
}
