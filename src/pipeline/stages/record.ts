// Stage: the decided call carried out in the session store, in one atomic round trip: the
// call goes into the session's history, summary and counters, and an allowed call is
// counted against its rate limits (the configured ones and the policy's rate_limit
// obligation). A full limit, a session that has ended, or a store that cannot be reached
// turns the allow into a deny (fail closed). Runs for denials too: they are history.
import type { SessionsConfig } from '../../config/sessions.js';
import { rateRules } from '../../sessions/rate-rules.js';
import type { HistoryEntry } from '../../sessions/session.js';
import {
  StoreUnavailableError,
  type RateLimitRule,
  type RecordOptions,
  type SessionStore,
} from '../../sessions/store.js';
import { denyWith, type Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import { SPAN } from '../../telemetry/span-names.js';
import { argsDigestOf } from './behaviour.js';

export type RecordLimits = Pick<
  SessionsConfig,
  'historyLimit' | 'summaryLimit' | 'idleTimeoutMs' | 'rateLimits'
>;

const SESSION_GONE =
  'this session has ended (expired or terminated); re-authenticate and initialize a new session';

export function recordCall(store: SessionStore, limits: RecordLimits): Stage {
  /** How the store records a call (a literal: an object spread per call cost measurable CPU). */
  const options = (ctx: RequestContext, rules: RateLimitRule[]): RecordOptions => ({
    historyLimit: limits.historyLimit,
    summaryLimit: limits.summaryLimit,
    idleMs: limits.idleTimeoutMs,
    rateRules: rules,
    behaviour: ctx.behaviourUpdate,
  });

  return {
    name: 'rate limit and record',
    span: SPAN.sessionRecord,
    when: 'always',
    async run(ctx: RequestContext) {
      const { target, decision } = ctx;
      if (!target || !decision || !ctx.input) return undefined; // nothing was decided
      const entry: HistoryEntry = {
        action: ctx.action,
        target: target.id,
        args_digest: argsDigestOf(ctx),
        allowed: decision.allow,
        at_ns: ctx.input.request.time_ns,
      };
      const sessionId = ctx.session.record.id;
      try {
        const rules = decision.allow
          ? rateRules(
              limits.rateLimits,
              ctx.session.record,
              target.kind === 'tool' ? target.id : undefined,
              ctx.obligations.rateLimit,
            )
          : [];
        const outcome = await store.recordCall(sessionId, entry, options(ctx, rules));
        if (outcome.kind === 'rate_limited') {
          const retryS = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
          // The call was not counted; it is history as a denied one (a new entry: the store
          // may keep the one it was given).
          await store.recordCall(sessionId, { ...entry, allowed: false }, options(ctx, []));
          return denyWith(
            'rate_limited',
            `rate limit "${outcome.rule}" reached (${outcome.limit} calls per ${outcome.windowMs / 1000} s); retry after ${retryS} s`,
          );
        }
        if (outcome.kind === 'gone') return denyWith('session_gone', SESSION_GONE);
        return undefined;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        return denyWith('store_unavailable', `${err.message}; denied (fail closed)`);
      }
    },
  };
}
