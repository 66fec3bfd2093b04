// Stage: the session's DLP context, kept in the session store for every later decision of
// the session (input.session.labels, input.session.finding_counts): the labels the
// decisions gave (label_session, on the call or on its result), and how many findings of
// each type the arguments and the result had, and the sketches of a labelled result's text
// (stages/sketch-result.ts). One store round trip, only when there is something to record. If the store cannot take it, the request is denied (fail closed): a
// session must not lose what it was seen to carry.
import { StoreUnavailableError, type SessionStore } from '../../sessions/store.js';
import { denyWith, type Stage, type StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';

export function recordFindings(store: SessionStore): Stage {
  return {
    name: 'record labels and finding counts in the session',
    when: 'always',
    // Synchronous when there is nothing to record (nearly every call): no promise per call.
    run(ctx: RequestContext): StageOutcome | Promise<StageOutcome> {
      const labels = new Set<string>([
        ...ctx.obligations.labels,
        ...(ctx.resultEvaluation?.obligations.labels ?? []),
      ]);
      const counts: Record<string, number> = {};
      for (const f of ctx.argumentFindings) counts[f.type] = (counts[f.type] ?? 0) + 1;
      for (const f of ctx.resultInspection?.findings ?? [])
        counts[f.type] = (counts[f.type] ?? 0) + 1;
      const sketches = ctx.resultSketches;
      if (labels.size === 0 && Object.keys(counts).length === 0 && sketches === undefined) {
        return undefined;
      }
      return record(ctx, [...labels], counts, sketches);
    },
  };

  async function record(
    ctx: RequestContext,
    labels: string[],
    counts: Record<string, number>,
    sketches: RequestContext['resultSketches'],
  ): Promise<StageOutcome> {
    try {
      await store.recordFindings(ctx.session.record.id, labels, counts, sketches);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      if (ctx.denied) return undefined;
      return denyWith(
        'store_unavailable',
        `${err.message}; the session's findings could not be recorded, so the result is not passed on; denied (fail closed)`,
      );
    }
    return undefined;
  }
}
