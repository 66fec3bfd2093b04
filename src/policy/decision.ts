// The decision contract between the gateway and the policy, and its strict validation:
// anything that is not exactly a decision is a deny that says what was wrong.

export interface Obligations {
  require_approval: unknown;
  rate_limit: unknown;
  credential: unknown;
  redact: string[];
  terminate_session: boolean;
  /** session/open only: the session's lifetime in seconds (null: no limit from policy). */
  session_ttl_s: number | null;
  /** Result decisions: DLP labels the session gets (absent when the policy gives none). */
  label_session?: string[];
  /** Slow this call down instead of refusing it: {delay_ms} (absent: none). */
  throttle?: unknown;
  /** Reasons to alert a person about (a warning log line, a webhook); absent: none. */
  alert?: string[];
  /** The user must authenticate again: {reason, scope?, max_age_s?} (absent: none). */
  step_up?: unknown;
}

export interface Decision {
  allow: boolean;
  reasons: string[];
  obligations: Obligations;
}

export const NO_OBLIGATIONS: Readonly<Obligations> = Object.freeze({
  require_approval: null,
  rate_limit: null,
  credential: null,
  redact: [],
  terminate_session: false,
  session_ttl_s: null,
});

export function deny(reason: string): Decision {
  return { allow: false, reasons: [reason], obligations: { ...NO_OBLIGATIONS, redact: [] } };
}

const OBLIGATION_KEYS = new Set([
  ...Object.keys(NO_OBLIGATIONS),
  'label_session',
  'throttle',
  'alert',
  'step_up',
]);

/** The most alert reasons one decision may carry, and the longest one. */
const MAX_ALERTS = 16;
const MAX_ALERT_CHARS = 1000;

/** A session label: short, lower case, safe as a Redis hash field and in a log line. */
export const SESSION_LABEL = /^[a-z][a-z0-9_.:-]{0,63}$/;
/** The most labels one decision may give (a session keeps at most MAX_SESSION_LABELS). */
export const MAX_LABELS_PER_DECISION = 16;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates what `mcp/authz/decision` returned; malformed results become denies. */
export function parseDecision(result: unknown): Decision {
  if (result === undefined) {
    return deny('policy decision is undefined (mcp/authz/decision produced no value); denied');
  }
  if (!isRecord(result)) return deny('policy returned a malformed decision: not an object; denied');
  if (typeof result.allow !== 'boolean') {
    return deny('policy returned a malformed decision: "allow" must be true or false; denied');
  }
  const reasons = result.reasons ?? [];
  if (!Array.isArray(reasons) || !reasons.every((r) => typeof r === 'string')) {
    return deny(
      'policy returned a malformed decision: "reasons" must be a list of strings; denied',
    );
  }
  const rawObligations = result.obligations ?? {};
  if (!isRecord(rawObligations)) {
    return deny('policy returned a malformed decision: "obligations" must be an object; denied');
  }
  const unknown = Object.keys(rawObligations).filter((k) => !OBLIGATION_KEYS.has(k));
  if (unknown.length > 0) {
    return deny(`policy returned unknown obligation(s) ${unknown.join(', ')}; denied`);
  }
  const redact = rawObligations.redact ?? [];
  if (!Array.isArray(redact) || !redact.every((r) => typeof r === 'string')) {
    return deny(
      'policy returned a malformed decision: obligation "redact" must be a list of strings',
    );
  }
  const terminate = rawObligations.terminate_session ?? false;
  if (typeof terminate !== 'boolean') {
    return deny('policy returned a malformed decision: "terminate_session" must be true or false');
  }
  const ttl = rawObligations.session_ttl_s ?? null;
  if (ttl !== null && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0)) {
    return deny(
      'policy returned a malformed decision: "session_ttl_s" must be a positive number of seconds',
    );
  }
  const labels = rawObligations.label_session;
  if (
    labels !== undefined &&
    (!Array.isArray(labels) ||
      labels.length > MAX_LABELS_PER_DECISION ||
      !labels.every((l) => typeof l === 'string' && SESSION_LABEL.test(l)))
  ) {
    return deny(
      `policy returned a malformed decision: "label_session" must be a list of at most ${MAX_LABELS_PER_DECISION} labels of a-z 0-9 _ . : - (starting with a letter)`,
    );
  }
  const alert = rawObligations.alert;
  if (
    alert !== undefined &&
    (!Array.isArray(alert) ||
      alert.length > MAX_ALERTS ||
      !alert.every((a) => typeof a === 'string' && a.length > 0 && a.length <= MAX_ALERT_CHARS))
  ) {
    return deny(
      `policy returned a malformed decision: "alert" must be a list of at most ${MAX_ALERTS} reasons (non-empty strings of at most ${MAX_ALERT_CHARS} characters)`,
    );
  }
  const decision: Decision = {
    allow: result.allow,
    reasons: reasons,
    obligations: {
      require_approval: rawObligations.require_approval ?? null,
      rate_limit: rawObligations.rate_limit ?? null,
      credential: rawObligations.credential ?? null,
      redact: redact,
      terminate_session: terminate,
      session_ttl_s: ttl,
    },
  };
  if (labels !== undefined) decision.obligations.label_session = labels as string[];
  if (alert !== undefined && alert.length > 0) decision.obligations.alert = alert as string[];
  if (rawObligations.throttle != null) decision.obligations.throttle = rawObligations.throttle;
  if (rawObligations.step_up != null) decision.obligations.step_up = rawObligations.step_up;
  if (!decision.allow && decision.reasons.length === 0) {
    decision.reasons = ['denied by policy (the policy gave no reason)'];
  }
  return decision;
}

/** Validates what `mcp/authz/visible` returned: a list (Rego set) of catalog ids. */
export function parseVisible(result: unknown): { ids: Set<string>; error?: string } {
  if (result === undefined) return { ids: new Set(), error: 'mcp/authz/visible is undefined' };
  if (!Array.isArray(result) || !result.every((r) => typeof r === 'string')) {
    return { ids: new Set(), error: 'mcp/authz/visible must be a set of strings' };
  }
  return { ids: new Set(result) };
}
