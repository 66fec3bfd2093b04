// Rate-limit rules as the store counts them: the configured per-session, per-user and
// per-tool windows, plus the policy's rate_limit obligation for one call.
import type { SessionsConfig } from '../config/sessions.js';
import type { RateLimitObligation } from '../policy/obligations.js';
import type { RateLimitRule, SessionRecord } from './store.js';

export function rateRules(
  limits: SessionsConfig['rateLimits'],
  record: Pick<SessionRecord, 'id' | 'principal'>,
  toolId?: string,
  obligation?: RateLimitObligation,
): RateLimitRule[] {
  // Nothing to count (the default): no keys built on every request.
  if (!limits.perSession && !limits.perUser && !(limits.perTool && toolId) && !obligation) {
    return [];
  }
  const sessionKey = `session:${record.id}`;
  const userKey = `user:${record.principal}`;
  const rules: RateLimitRule[] = [];
  if (limits.perSession) rules.push({ name: 'session', key: sessionKey, ...limits.perSession });
  if (limits.perUser) rules.push({ name: 'user', key: userKey, ...limits.perUser });
  if (limits.perTool && toolId) {
    rules.push({ name: `tool:${toolId}`, key: `${userKey}:tool:${toolId}`, ...limits.perTool });
  }
  if (obligation) {
    const scope =
      obligation.per === 'session'
        ? sessionKey
        : obligation.per === 'user'
          ? userKey
          : `${userKey}:tool:${toolId ?? ''}`;
    rules.push({
      name: `policy:${obligation.per}`,
      key: `${scope}:policy:${obligation.limit}/${obligation.window_s}`,
      limit: obligation.limit,
      windowMs: Math.max(1, Math.round(obligation.window_s * 1000)),
    });
  }
  return rules;
}
