// The completion values stages: the upstream's suggestions become catalog items for the
// visible decision (each value once; none, no decision), and the answer keeps only the
// visible ones in the upstream's order, without a `total` that would count the hidden.
import { describe, expect, it } from '@jest/globals';
import type { Stage, StageOutcome } from '../../src/pipeline/chain.js';
import type { RequestContext } from '../../src/pipeline/context.js';
import {
  offerCompletionValues,
  showCompletionValues,
} from '../../src/pipeline/stages/completion-values.js';
import type { VisibleEvaluation } from '../../src/policy/decide.js';
import { policyInput, requestContext } from './support/context.js';

function completionContext(completion: Record<string, unknown>): RequestContext {
  const ctx = requestContext('completion/complete');
  const ref = { kind: 'prompt' as const, server: 'srv', name: 'p', id: 'srv.p' };
  ctx.target = { kind: 'completion', server: 'srv', id: 'srv.p', ref };
  ctx.input = policyInput(ctx, 'completion/complete', {
    completion: { ref, argument: { name: 'a', value: '' }, context_arguments: {} },
  });
  ctx.result = { completion };
  return ctx;
}

function run(stage: Stage, ctx: RequestContext): StageOutcome {
  const outcome = stage.run(ctx);
  if (outcome instanceof Promise) throw new Error('these stages are synchronous');
  return outcome;
}

/** What a visible evaluation returned (no policy involved: these stages only read the ids). */
const visibleIds = (ids: string[]): VisibleEvaluation => ({
  ids: new Set(ids),
  inputJson: '',
  revision: '',
  evalNs: 0,
  engine: undefined,
  error: ids.length === 0 ? 'failed' : undefined,
});

describe('completion values', () => {
  it('offers each suggested value once, as a completion_value of the upstream', () => {
    const ctx = completionContext({ values: ['a', 'b', 'a'] });
    expect(run(offerCompletionValues(), ctx)).toBeUndefined();
    expect(ctx.input?.catalog).toEqual([
      { kind: 'completion_value', id: 'a', server: 'srv' },
      { kind: 'completion_value', id: 'b', server: 'srv' },
    ]);
  });

  it('offers nothing to decide when nothing was suggested', () => {
    const ctx = completionContext({ values: [], total: 0 });
    run(offerCompletionValues(), ctx);
    expect(ctx.input?.catalog).toBeUndefined();
    run(showCompletionValues(), ctx);
    expect(ctx.result).toEqual({ completion: { values: [], total: 0 } });
  });

  it('shows the visible values in order, drops total and keeps hasMore', () => {
    const ctx = completionContext({ values: ['x', 'secret', 'y'], total: 40, hasMore: true });
    ctx.visible = visibleIds(['y', 'x']);
    run(showCompletionValues(), ctx);
    expect(ctx.result).toEqual({ completion: { values: ['x', 'y'], hasMore: true } });
  });

  it('leaves the answer as it is when every value is visible', () => {
    const completion = { values: ['x', 'y'], total: 2, hasMore: false };
    const ctx = completionContext(completion);
    ctx.visible = visibleIds(['x', 'y']);
    run(showCompletionValues(), ctx);
    expect(ctx.result).toEqual({ completion });
  });

  it('shows nothing when the visible decision failed (no ids)', () => {
    const ctx = completionContext({ values: ['x'] });
    ctx.visible = visibleIds([]);
    run(showCompletionValues(), ctx);
    expect(ctx.result).toEqual({ completion: { values: [] } });
  });
});
