// Stage: the text of a labelled result, remembered for argument provenance. When the call's
// decision or its result's decision labels the session (label_session: `private` for a tool
// that reads internal data, `secret` for a result with a secret, …), the result's text is
// sketched (inspect/provenance.ts) for each of those labels the session keeps sketches of;
// the next stage stores the sketches with the labels, in the same store round trip. A
// result without such labels costs nothing here.
import { sketchIsFull, sketchOf, resultTexts } from '../../inspect/provenance.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

/** The labels whose results are sketched: what an argument can be traced back to. */
export const SKETCHED_LABELS: readonly string[] = Object.freeze([
  'private',
  'secret',
  'pii',
  'untrusted',
]);

export function sketchResult(): Stage {
  return {
    name: 'sketch the labelled result (argument provenance)',
    when: 'allowed',
    run(ctx: RequestContext) {
      if (ctx.result === undefined) return undefined;
      const labels = [
        ...ctx.obligations.labels,
        ...(ctx.resultEvaluation?.obligations.labels ?? []),
      ].filter((label) => SKETCHED_LABELS.includes(label));
      if (labels.length === 0) return undefined;
      const held = ctx.session.behaviour?.sketches ?? {};
      const wanted = labels.filter((label) => {
        const sketch = held[label];
        return sketch === undefined || !sketchIsFull(sketch);
      });
      if (wanted.length === 0) return undefined;
      const sketch = sketchOf(resultTexts(ctx.result));
      ctx.resultSketches = Object.fromEntries(wanted.map((label) => [label, sketch]));
      return undefined;
    },
  };
}
