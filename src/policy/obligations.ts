// Obligations are the policy's instructions attached to a decision. The gateway must carry
// out every obligation it is given; one it cannot carry out turns the decision into a deny
// (fail closed), never into a silently weaker allow.
import type { Decision } from './decision.js';

/** The policy's rate_limit obligation: at most `limit` calls per `window_s`, counted per. */
export interface RateLimitObligation {
  limit: number;
  window_s: number;
  per: 'session' | 'user' | 'tool';
}

export function parseRateLimit(value: unknown): RateLimitObligation | string {
  if (typeof value !== 'object' || value === null) return 'rate_limit must be an object';
  const { limit, window_s: windowS, per } = value as Record<string, unknown>;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1)
    return 'rate_limit.limit must be a positive whole number';
  if (typeof windowS !== 'number' || !(windowS > 0) || windowS > 86_400)
    return 'rate_limit.window_s must be a number of seconds (0, 86400]';
  if (per !== 'session' && per !== 'user' && per !== 'tool')
    return 'rate_limit.per must be "session", "user" or "tool"';
  return { limit, window_s: windowS, per };
}

/** The policy's credential obligation: the audience and scopes of this call's upstream token. */
export interface CredentialObligationShape {
  audience?: string;
  scopes?: string[];
}

export function parseCredentialObligation(value: unknown): CredentialObligationShape | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'credential must be an object';
  const { audience, scopes, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0)
    return `credential has unknown field(s) ${Object.keys(rest).join(', ')}`;
  if (audience !== undefined && typeof audience !== 'string')
    return 'credential.audience must be a string';
  if (
    scopes !== undefined &&
    (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && /^\S+$/.test(s)))
  ) {
    return 'credential.scopes must be a list of scope strings';
  }
  if (Array.isArray(scopes) && scopes.length === 0) {
    return 'credential.scopes must not be empty (an empty list would mean every scope the API grants)';
  }
  const out: CredentialObligationShape = {};
  if (audience !== undefined) out.audience = audience;
  if (scopes !== undefined) out.scopes = scopes as string[];
  return out;
}

/** The policy's throttle obligation: the call waits this long before it goes on. */
export interface ThrottleObligation {
  delay_ms: number;
}

/** The longest a throttled call is held (the obligation may ask for no more). */
export const MAX_THROTTLE_MS = 10_000;

export function parseThrottle(value: unknown): ThrottleObligation | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'throttle must be an object {delay_ms}';
  const { delay_ms: delayMs, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0)
    return `throttle has unknown field(s) ${Object.keys(rest).join(', ')}`;
  if (
    typeof delayMs !== 'number' ||
    !Number.isInteger(delayMs) ||
    delayMs < 1 ||
    delayMs > MAX_THROTTLE_MS
  ) {
    return `throttle.delay_ms must be a whole number of milliseconds from 1 to ${MAX_THROTTLE_MS}`;
  }
  return { delay_ms: delayMs };
}

/**
 * The policy's step_up obligation: the user must authenticate again before this call goes
 * on; with `scope`, with a token that has it (403 insufficient_scope), else a fresh
 * authentication (401, RFC 9470 insufficient_user_authentication, at most max_age_s old).
 */
export interface StepUpObligation {
  reason: string;
  scope?: string;
  max_age_s?: number;
}

export function parseStepUp(value: unknown): StepUpObligation | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'step_up must be an object {reason, scope?, max_age_s?}';
  const { reason, scope, max_age_s: maxAge, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0)
    return `step_up has unknown field(s) ${Object.keys(rest).join(', ')}`;
  if (typeof reason !== 'string' || reason === '' || reason.length > 1000)
    return 'step_up.reason must be a non-empty string (at most 1000 characters)';
  // Quoted into a WWW-Authenticate header: scope tokens only (RFC 6749 section 3.3).
  if (
    scope !== undefined &&
    (typeof scope !== 'string' ||
      !/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(scope))
  )
    return 'step_up.scope must be space-separated scope tokens';
  if (
    maxAge !== undefined &&
    (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 0)
  )
    return 'step_up.max_age_s must be a whole number of seconds';
  const out: StepUpObligation = { reason };
  if (scope !== undefined) out.scope = scope;
  if (maxAge !== undefined) out.max_age_s = maxAge;
  return out;
}

/**
 * The policy's require_approval obligation: a person must approve this exact call before it
 * runs. `approvers` names who may (the policy decides again, as admin/approvals/decide, when
 * someone does); `self` lets the caller approve their own call (MCP elicitation, or the
 * console); `timeout_s` bounds the wait (the gateway's default when absent).
 */
export interface ApprovalObligation {
  reason: string;
  approvers: { roles: string[]; groups: string[] };
  self: boolean;
  timeout_s: number | undefined;
}

const APPROVAL_KEYS = new Set(['reason', 'approvers', 'self', 'timeout_s']);

function isNameList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= 64 &&
    value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 256)
  );
}

export function parseRequireApproval(value: unknown): ApprovalObligation | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'require_approval must be an object';
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !APPROVAL_KEYS.has(k));
  if (unknown.length > 0) return `require_approval has unknown field(s) ${unknown.join(', ')}`;
  const { reason, approvers = {}, self = false, timeout_s: timeoutS } = fields;
  if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 1000)
    return 'require_approval.reason must be a non-empty string (at most 1000 characters)';
  if (typeof approvers !== 'object' || approvers === null || Array.isArray(approvers))
    return 'require_approval.approvers must be an object {roles, groups}';
  const { roles = [], groups = [], ...other } = approvers as Record<string, unknown>;
  if (Object.keys(other).length > 0)
    return `require_approval.approvers has unknown field(s) ${Object.keys(other).join(', ')}`;
  if (!isNameList(roles) || !isNameList(groups))
    return 'require_approval.approvers.roles and .groups must be lists of names';
  if (typeof self !== 'boolean') return 'require_approval.self must be true or false';
  if (roles.length === 0 && groups.length === 0 && !self)
    return 'require_approval names nobody who may approve (no approvers and self is false)';
  if (
    timeoutS !== undefined &&
    (typeof timeoutS !== 'number' || !Number.isInteger(timeoutS) || timeoutS < 1)
  )
    return 'require_approval.timeout_s must be a positive whole number of seconds';
  return {
    reason,
    approvers: { roles, groups },
    self,
    timeout_s: timeoutS,
  };
}

/**
 * The obligations of a decision, parsed once (in decide) into what the gateway carries out.
 * An allowed decision whose obligations are malformed never gets this far: it is a deny.
 */
export interface TypedObligations {
  rateLimit: RateLimitObligation | undefined;
  credential: CredentialObligationShape | undefined;
  /** A person must approve the call first (stages/approval.ts). */
  approval: ApprovalObligation | undefined;
  terminateSession: boolean;
  /** session/open only: the session's lifetime in seconds. */
  sessionTtlS: number | undefined;
  /** Result decisions only: finding ids and JSON pointers to redact from the result. */
  redact: readonly string[];
  /** DLP labels the session gets (label_session). */
  labels: readonly string[];
  /** How long the call waits before it goes on (throttle). */
  throttle: ThrottleObligation | undefined;
  /** Reasons to alert a person about (alert): logged, and sent to the alert webhook. */
  alert: readonly string[];
  /** The user must authenticate again (step_up). */
  stepUp: StepUpObligation | undefined;
}

const NONE: readonly string[] = Object.freeze([]);

export const NO_TYPED_OBLIGATIONS: Readonly<TypedObligations> = Object.freeze({
  rateLimit: undefined,
  credential: undefined,
  approval: undefined,
  terminateSession: false,
  sessionTtlS: undefined,
  redact: NONE,
  labels: NONE,
  throttle: undefined,
  alert: NONE,
  stepUp: undefined,
});

/**
 * Which decision the obligations belong to: a request (`call`: tools/call, resources/read,
 * prompts/get, lists, session/open) or the result of an allowed call (`result`).
 */
export type DecisionPhase = 'call' | 'result';

/**
 * A decision checked for what this gateway can carry out, with its obligations typed: an
 * allow with an obligation the gateway cannot carry out, or a malformed one, becomes a deny
 * that says why. A deny keeps its reasons; its malformed obligations are ignored (nothing
 * is carried out for a deny but terminate_session and alert).
 */
export function checkObligations(
  decision: Decision,
  phase: DecisionPhase = 'call',
): {
  decision: Decision;
  obligations: TypedObligations;
} {
  const o = decision.obligations;
  const labels = o.label_session ?? NONE;
  const alert = o.alert ?? NONE;
  if (
    o.rate_limit === null &&
    o.credential === null &&
    o.require_approval === null &&
    o.redact.length === 0 &&
    o.throttle === undefined &&
    o.step_up === undefined
  ) {
    // The common case: nothing to parse.
    return {
      decision,
      obligations:
        !o.terminate_session &&
        o.session_ttl_s === null &&
        labels.length === 0 &&
        alert.length === 0
          ? NO_TYPED_OBLIGATIONS
          : {
              ...NO_TYPED_OBLIGATIONS,
              terminateSession: o.terminate_session,
              sessionTtlS: o.session_ttl_s ?? undefined,
              labels,
              alert,
            },
    };
  }
  const checked =
    phase === 'result' ? enforceResultObligations(decision) : enforceSupportedObligations(decision);
  if (phase === 'result') {
    return {
      decision: checked,
      obligations: {
        ...NO_TYPED_OBLIGATIONS,
        terminateSession: o.terminate_session,
        redact: o.redact,
        labels,
        alert,
      },
    };
  }
  const rateLimit = o.rate_limit === null ? undefined : parseRateLimit(o.rate_limit);
  const credential = o.credential === null ? undefined : parseCredentialObligation(o.credential);
  const throttle = o.throttle === undefined ? undefined : parseThrottle(o.throttle);
  const stepUp = o.step_up === undefined ? undefined : parseStepUp(o.step_up);
  const approval =
    o.require_approval === null ? undefined : parseRequireApproval(o.require_approval);
  return {
    decision: checked,
    obligations: {
      rateLimit: typeof rateLimit === 'object' ? rateLimit : undefined,
      credential: typeof credential === 'object' ? credential : undefined,
      approval: typeof approval === 'object' ? approval : undefined,
      terminateSession: o.terminate_session,
      sessionTtlS: o.session_ttl_s ?? undefined,
      redact: NONE,
      labels,
      throttle: typeof throttle === 'object' ? throttle : undefined,
      alert,
      stepUp: typeof stepUp === 'object' ? stepUp : undefined,
    },
  };
}

/**
 * A result decision's obligations: redact, label_session and terminate_session are carried
 * out; require_approval is not (a call is held for approval before it runs, never its
 * result), so the result is denied with that reason; rate_limit and credential are about a
 * call, not its result.
 */
function enforceResultObligations(decision: Decision): Decision {
  if (!decision.allow) return decision;
  const o = decision.obligations;
  const problems: string[] = [];
  if (o.require_approval !== null) {
    problems.push(
      'the policy requires an approval before this result is shown, and only calls can be held for approval, not their results; denied',
    );
  }
  const misplaced = [
    ...(o.rate_limit !== null ? ['rate_limit'] : []),
    ...(o.credential !== null ? ['credential'] : []),
  ];
  if (misplaced.length > 0) {
    problems.push(
      `the policy gave the obligation(s) ${misplaced.join(', ')} on a result, where they do not apply; denied`,
    );
  }
  if (problems.length === 0) return decision;
  return { ...decision, allow: false, reasons: problems };
}

function unsupportedObligations(decision: Decision): string[] {
  const o = decision.obligations;
  const unsupported: string[] = [];
  if (o.redact.length > 0) unsupported.push('redact');
  return unsupported;
}

export function enforceSupportedObligations(decision: Decision): Decision {
  if (!decision.allow) return decision;
  const problems: string[] = [];
  const unsupported = unsupportedObligations(decision);
  if (unsupported.length > 0) {
    problems.push(
      `the policy requires obligation(s) ${unsupported.join(', ')}, which this gateway cannot carry out yet; denied`,
    );
  }
  if (decision.obligations.credential !== null) {
    const parsed = parseCredentialObligation(decision.obligations.credential);
    if (typeof parsed === 'string')
      problems.push(`the policy returned a malformed obligation: ${parsed}; denied`);
  }
  if (decision.obligations.require_approval !== null) {
    const parsed = parseRequireApproval(decision.obligations.require_approval);
    if (typeof parsed === 'string')
      problems.push(`the policy returned a malformed obligation: ${parsed}; denied`);
  }
  if (decision.obligations.rate_limit !== null) {
    const parsed = parseRateLimit(decision.obligations.rate_limit);
    if (typeof parsed === 'string')
      problems.push(`the policy returned a malformed obligation: ${parsed}; denied`);
  }
  for (const parsed of [
    decision.obligations.throttle === undefined
      ? undefined
      : parseThrottle(decision.obligations.throttle),
    decision.obligations.step_up === undefined
      ? undefined
      : parseStepUp(decision.obligations.step_up),
  ]) {
    if (typeof parsed === 'string')
      problems.push(`the policy returned a malformed obligation: ${parsed}; denied`);
  }
  if (problems.length === 0) return decision;
  // The allow's own notes ("allowed by ...") would only confuse a denial.
  return { ...decision, allow: false, reasons: problems };
}
