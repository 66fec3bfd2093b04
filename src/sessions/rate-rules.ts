// Rate-limit rules as the store counts them: the configured per-session, per-user and
// per-tool windows, plus the policy's rate_limit obligation for one call.
import type { SessionsConfig } from '../config/sessions.js';
import type { RateLimitRule, RateScope, SessionRecord } from './store.js';

/**
 * A limit the policy set for one call (its rate_limit obligation, as parsed in
 * policy/obligations.ts): at most `limit` calls per `window_s` seconds, counted per session,
 * user or user+tool. Declared here because the store sits below the policy
 * (docs/architecture.md#layers). The pipeline passes the parsed obligation in as it is, so
 * an obligation this function could not count (another `per`, a renamed field) no longer
 * compiles there.
 */
export interface PolicyRateLimit {
  limit: number;
  window_s: number;
  per: 'session' | 'user' | 'tool';
}

export function rateRules(
  limits: SessionsConfig['rateLimits'],
  record: Pick<SessionRecord, 'id' | 'principal'>,
  toolId?: string,
  obligation?: PolicyRateLimit,
): RateLimitRule[] {
  // Nothing to count (the default): no keys built on every request.
  if (!limits.perSession && !limits.perUser && !(limits.perTool && toolId) && !obligation) {
    return [];
  }
  const sessionKey = `session:${record.id}`;
  const userKey = `user:${record.principal}`;
  const session: RateScope = { kind: 'session' };
  const user: RateScope = { kind: 'user', principal: record.principal };
  const rules: RateLimitRule[] = [];
  if (limits.perSession) {
    rules.push({ name: 'session', key: sessionKey, scope: session, ...limits.perSession });
  }
  if (limits.perUser) rules.push({ name: 'user', key: userKey, scope: user, ...limits.perUser });
  if (limits.perTool && toolId) {
    rules.push({
      name: `tool:${toolId}`,
      key: `${userKey}:tool:${toolId}`,
      scope: user,
      ...limits.perTool,
    });
  }
  if (obligation) {
    const counted =
      obligation.per === 'session'
        ? sessionKey
        : obligation.per === 'user'
          ? userKey
          : `${userKey}:tool:${toolId ?? ''}`;
    rules.push({
      name: `policy:${obligation.per}`,
      key: `${counted}:policy:${obligation.limit}/${obligation.window_s}`,
      scope: obligation.per === 'session' ? session : user,
      limit: obligation.limit,
      windowMs: Math.max(1, Math.round(obligation.window_s * 1000)),
    });
  }
  return rules;
}
