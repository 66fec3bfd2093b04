// An ordered chain of small stages, as Envoy's filter chain: each stage does one job and
// answers continue (undefined), deny (with a reason), or respond (the answer is ready, skip
// the rest). A deny does not stop the chain: the stages that must see every decision
// (record, audit) still run, the ones that act on an allow (credential, forward) do not.
// Stages marked `finally` run even when a stage threw (terminate_session after the answer).
//
// The chains are assembled in one place (chains.ts) and can be printed in order
// (`mcpgate start --explain`, and at debug level on start-up).
import type { Denial, RequestContext } from './context.js';

/** A stage's answer: undefined to continue. */
export type StageOutcome = undefined | { deny: Denial } | { respond: unknown };

/**
 * When a stage runs: `allowed` only while the request is not denied; `always` also after a
 * deny; `finally` after the chain, whatever happened (also when a stage threw).
 */
export type StageWhen = 'allowed' | 'always' | 'finally';

export interface Stage {
  /** Shown by `--explain` and in stage timings. */
  readonly name: string;
  readonly when: StageWhen;
  /**
   * The name of this stage's own span when the request is traced (telemetry/span-names.ts):
   * the chain opens it around the stage, as a child of the request's SERVER span.
   */
  readonly span?: string;
  run(ctx: RequestContext): StageOutcome | Promise<StageOutcome>;
}

/** Receives each stage's duration; absent, the chain reads no clock at all. */
export type StageTimer = (method: string, stage: string, ns: number) => void;

export function denyWith(
  code: Denial['code'],
  reason: string,
  extra?: Omit<Denial, 'reason' | 'code'>,
): { deny: Denial } {
  return { deny: extra === undefined ? { reason, code } : { reason, code, ...extra } };
}

export class Chain {
  private readonly main: readonly Stage[];
  private readonly last: readonly Stage[];

  /**
   * @param render turns the finished context into the method's answer: the result, or the
   *   denial in the method's own form (a tool error, a JSON-RPC error, an HTTP refusal).
   */
  constructor(
    readonly method: string,
    readonly stages: readonly Stage[],
    private readonly render: (ctx: RequestContext) => unknown,
    private readonly timer?: StageTimer,
  ) {
    this.main = stages.filter((s) => s.when !== 'finally');
    this.last = stages.filter((s) => s.when === 'finally');
  }

  async run(ctx: RequestContext): Promise<unknown> {
    try {
      for (const stage of this.main) {
        if (stage.when === 'allowed' && ctx.denied) continue;
        let outcome =
          ctx.trace !== undefined && stage.span !== undefined
            ? this.traced(stage, stage.span, ctx)
            : this.timer
              ? this.timed(stage, ctx)
              : stage.run(ctx);
        // Most stages are synchronous: await (one microtask each) only what is a promise.
        if (outcome instanceof Promise) outcome = await outcome;
        if (outcome === undefined) continue;
        if ('respond' in outcome) {
          ctx.result = outcome.respond;
          break;
        }
        ctx.deny(outcome.deny);
      }
      return this.render(ctx);
    } catch (err) {
      ctx.thrown = err;
      throw err;
    } finally {
      for (const stage of this.last) {
        const done = stage.run(ctx);
        if (done instanceof Promise) await done;
      }
    }
  }

  /** The chain in order, one stage a line (`mcpgate start --explain`). */
  describe(): string {
    const lines = this.stages.map(
      (stage, i) => `  ${String(i + 1).padStart(2)}. ${stage.name}${WHEN_NOTE[stage.when]}`,
    );
    return `${this.method}\n${lines.join('\n')}`;
  }

  /** Runs the stage inside its own span (the request is traced). */
  private traced(
    stage: Stage,
    span: string,
    ctx: RequestContext,
  ): StageOutcome | Promise<StageOutcome> {
    const child = ctx.trace!.startChild(span);
    let outcome: StageOutcome | Promise<StageOutcome>;
    try {
      outcome = this.timer ? this.timed(stage, ctx) : stage.run(ctx);
    } catch (err) {
      child.fail(err);
      throw err;
    }
    if (!(outcome instanceof Promise)) {
      child.end(outcome);
      return outcome;
    }
    return outcome.then(
      (done) => {
        child.end(done);
        return done;
      },
      (err: unknown) => {
        child.fail(err);
        throw err;
      },
    );
  }

  private timed(stage: Stage, ctx: RequestContext): StageOutcome | Promise<StageOutcome> {
    const started = process.hrtime.bigint();
    const done = (): void => {
      const ns = Number(process.hrtime.bigint() - started);
      (ctx.timings ??= []).push(ns);
      this.timer?.(this.method, stage.name, ns);
    };
    let outcome: StageOutcome | Promise<StageOutcome>;
    try {
      outcome = stage.run(ctx);
    } catch (err) {
      done();
      throw err;
    }
    if (outcome instanceof Promise) return outcome.finally(done);
    done();
    return outcome;
  }
}

const WHEN_NOTE: Record<StageWhen, string> = {
  allowed: '',
  always: '  (also on a deny)',
  finally: '  (after the answer, always)',
};
