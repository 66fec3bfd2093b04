// Builds the policy input document (rego/schema/input.json is its contract). Only facts:
// no decision is taken here.
import type { Identity } from '../identity/identity.js';
import type { Finding } from '../inspect/finding.js';
import { eraOf, type Era } from '../mcp/server/eras.js';
import type { HistoryEntry, SessionSummary, TargetSummary } from '../sessions/session.js';
import type { LoadedSession } from '../sessions/store.js';
import type { PinFacts } from '../upstreams/trust/pins.js';
import type { FindingFact } from './trust-facts.js';
import type { BehaviourFacts } from './behaviour.js';

export type PolicyAction =
  | 'admin/sessions/list'
  | 'admin/sessions/show'
  | 'admin/sessions/kill'
  | 'admin/approvals/list'
  | 'admin/approvals/show'
  | 'admin/approvals/decide'
  | 'admin/decisions/list'
  | 'admin/tools/list'
  | 'session/open'
  | 'tools/call'
  | 'resources/read'
  | 'prompts/get'
  | ResultAction
  | 'tools/list'
  | 'resources/list'
  | 'resources/templates/list'
  | 'prompts/list'
  | 'completion/complete'
  | 'resources/subscribe'
  | 'resources/unsubscribe'
  | 'notifications/resources/updated'
  | UpstreamAskAction
  | 'notifications/message';

/** What an upstream asks of a session's client: decided with the upstream as the requester. */
export type UpstreamAskAction = 'sampling/createMessage' | 'elicitation/create' | 'roots/list';

/** The second decision of an allowed call, on what came back. */
export type ResultAction = 'tools/result' | 'resources/result' | 'prompts/result';

/** Each decided call's result action. */
/** Keyed by any chain method: those without a result decision are absent. */
export const RESULT_ACTIONS: Readonly<Partial<Record<string, ResultAction>>> = {
  'tools/call': 'tools/result',
  'resources/read': 'resources/result',
  'prompts/get': 'prompts/result',
  // A task's result is the result of the tools/call that created it.
  'tasks/result': 'tools/result',
};

/** input.result: what an allowed call returned, as facts (not the result itself). */
export interface ResultFacts {
  findings: Finding[];
  findings_dropped: number;
  bytes: number;
  is_error: boolean;
  /** Each external inspector asked, and what it answered. */
  inspectors: Record<string, 'pass' | 'findings' | 'mutated' | 'skipped'>;
}

export interface RequestFacts {
  identity: Identity;
  /** The session as read from the store at the start of this request. */
  session: LoadedSession;
  protocolVersion: string | undefined;
  gateway: { id: string; version: string };
}

/**
 * One item a visible decision is about: a list's items, at session/open the upstreams'
 * instructions (kind `instruction`, id the server's name), and for notifications/message
 * the upstreams whose log messages a session may receive (kind `log`, id the server's name).
 */
export interface CatalogItemFact {
  kind:
    | 'tool'
    | 'resource'
    | 'resource_template'
    | 'prompt'
    | 'instruction'
    | 'completion_value'
    | 'log';
  id: string;
  server: string;
  name?: string;
  uri?: string;
  annotations?: Record<string, unknown>;
  /** Tools, prompts, resources and templates: the pin state (policy/trust-facts.ts). */
  pin?: PinFacts;
  /** Tools, prompts, resources and templates: the poisoning scan's findings. */
  findings?: FindingFact[];
}

/** completion/complete: which argument of which prompt or resource template is completed. */
export interface CompletionFacts {
  ref:
    | { kind: 'prompt'; server: string; name: string; id: string }
    | { kind: 'resource_template'; server: string; uri: string; id: string };
  /** The argument being completed and what the user has typed so far. */
  argument: { name: string; value: string };
  /** The other arguments already chosen (the request's context.arguments), as sent. */
  context_arguments: Record<string, string>;
}

export interface PolicyInput {
  action: PolicyAction;
  identity: Identity;
  /** Admin actions only: what the operator acts on. */
  admin?: { session_id?: string; approval?: ApprovalFacts };
  /** Every action except admin ones. */
  session?: {
    id: string;
    purpose: string;
    age_s: number;
    ttl_s?: number;
    /** The most recent decided calls, oldest first (sessions.history_limit). */
    history: HistoryEntry[];
    /** The whole session's decided calls by target id: O(1) questions for the policy. */
    summary: PolicySummary;
    /** DLP labels the session has been given so far (label_session), sorted. */
    labels: string[];
    /** Findings in this session so far, by type (secret, pii, injection, …). */
    finding_counts: Record<string, number>;
    /**
     * calls, denied, untracked (calls missing from the summary because it was full), and
     * the current window count of each rate limit ("rate:<rule>").
     */
    counters: Record<string, number>;
  };
  tool?: {
    server: string;
    name: string;
    id: string;
    annotations: Record<string, unknown>;
    definition_hash: string;
    pin: PinFacts;
    findings: FindingFact[];
  };
  /** pin and findings when the URI is a listed resource. */
  resource?: { server: string; uri: string; id: string; pin?: PinFacts; findings?: FindingFact[] };
  prompt?: { server: string; name: string; id: string; pin: PinFacts; findings: FindingFact[] };
  arguments?: Record<string, unknown>;
  completion?: CompletionFacts;
  /** tools/call run as a task (the client sent params.task): what it asked for. */
  task?: { ttl_ms?: number };
  catalog?: CatalogItemFact[];
  /** Server-to-client actions: the upstream that asks (the requester). */
  upstream?: UpstreamFacts;
  /** Server-to-client actions: the client request the upstream is serving, when known. */
  related?: { action: string; target?: string };
  sampling?: SamplingFacts;
  elicitation?: ElicitationFacts;
  roots?: { from: 'config' | 'client'; uris: string[] };
  /** Result actions only. */
  result?: ResultFacts;
  /**
   * tools/call, resources/read, prompts/get and their results: the session's behaviour
   * signals and where the arguments came from (policy/behaviour.ts).
   */
  behaviour?: BehaviourFacts;
  /** Guardrail findings in the arguments (pointers into this input: /arguments/…). */
  findings: Finding[];
  request: {
    time_ns: number;
    time: string;
    protocol_version?: string;
    /** With protocol_version: `handshake` (initialize, up to 2025-11-25) or `stateless` (2026-07-28). */
    era?: Era;
    client?: { name: string; version: string };
    gateway: { id: string; version: string };
  };
}

/** admin/approvals/show and decide: the approval acted on (rego/schema/input.json). */
export interface ApprovalFacts {
  id: string;
  verdict: 'approve' | 'deny' | 'none';
  requester: { issuer: string; subject: string };
  session_id: string;
  purpose: string;
  tool: string;
  reason: string;
  approvers: { roles: string[]; groups: string[] };
  self: boolean;
}

export interface UpstreamFacts {
  server: string;
  isolation: 'shared' | 'per-session';
  transport: 'stdio' | 'http' | 'sse';
}

/** sampling/createMessage: what the upstream asks the client's model. */
export interface SamplingFacts {
  /** The messages, as the upstream sent them. */
  messages: unknown[];
  system_prompt?: string;
  model_preferences?: Record<string, unknown>;
  max_tokens: number;
  /** Names of the tools the upstream offers the model (empty: none). */
  tools: string[];
  /** none, thisServer or allServers (none when not asked). */
  include_context: string;
}

/** elicitation/create: what the upstream asks the user. */
export interface ElicitationFacts {
  mode: 'form' | 'url';
  message: string;
  /** Form mode: the JSON Schema of the answer. */
  requested_schema?: Record<string, unknown>;
  /** URL mode: the page the user is sent to. */
  url?: string;
}

/** session.summary: one object per recorded action, keyed by target id. */
export interface PolicySummary {
  /** tools/call, by tool id (server.name). */
  tools: Record<string, TargetSummary>;
  /** resources/read, by resource id (server:uri). */
  resources: Record<string, TargetSummary>;
  /** prompts/get, by prompt id (server.name). */
  prompts: Record<string, TargetSummary>;
}

/** Which summary object holds each recorded action's targets. */
const SUMMARY_KEYS: Readonly<Record<string, keyof PolicySummary>> = {
  'tools/call': 'tools',
  'resources/read': 'resources',
  'prompts/get': 'prompts',
};

/** The store's summary (by action) as the policy sees it (by kind of target). */
export function policySummary(summary: SessionSummary | undefined): PolicySummary {
  const facts: PolicySummary = { tools: {}, resources: {}, prompts: {} };
  for (const [action, byTarget] of Object.entries(summary?.targets ?? {})) {
    const key = SUMMARY_KEYS[action];
    if (key !== undefined) facts[key] = byTarget;
  }
  return facts;
}

/** The summary the store would hold after exactly these calls (for dry runs and tests). */
export function summaryOfHistory(history: readonly HistoryEntry[]): SessionSummary {
  const targets = new Map<string, Map<string, TargetSummary>>();
  for (const entry of history) {
    let byTarget = targets.get(entry.action);
    if (!byTarget) targets.set(entry.action, (byTarget = new Map<string, TargetSummary>()));
    const target = byTarget.get(entry.target) ?? { allowed: 0, denied: 0, last_ns: 0 };
    byTarget.set(entry.target, target);
    if (entry.allowed) target.allowed++;
    else target.denied++;
    target.last_ns = entry.at_ns;
  }
  return {
    targets: Object.fromEntries([...targets].map(([a, t]) => [a, Object.fromEntries(t)])),
    untracked: 0,
  };
}

/** The input of every action that runs in a session (all but the admin ones). */
export type SessionInput = PolicyInput & { session: NonNullable<PolicyInput['session']> };

/** What a request is about besides its session: the target and arguments of its action. */
export type InputTarget = Pick<
  PolicyInput,
  | 'tool'
  | 'resource'
  | 'prompt'
  | 'arguments'
  | 'completion'
  | 'task'
  | 'catalog'
  | 'upstream'
  | 'related'
  | 'sampling'
  | 'elicitation'
  | 'roots'
>;

/**
 * The policy input of one request in a session: the one builder the gateway, `mcpgate eval`,
 * the policy tests and the benchmark all use. `target` adds what the action is about.
 */
export function buildInput(
  action: PolicyAction,
  facts: RequestFacts,
  target?: InputTarget,
  now = Date.now(),
): SessionInput {
  const { record, history, summary, counters, rates } = facts.session;
  const request: PolicyInput['request'] = {
    time_ns: now * 1_000_000,
    time: new Date(now).toISOString(),
    gateway: facts.gateway,
  };
  if (facts.protocolVersion !== undefined) {
    request.protocol_version = facts.protocolVersion;
    request.era = eraOf(facts.protocolVersion);
  }
  if (record.clientInfo !== null) request.client = record.clientInfo;
  const counterFacts: Record<string, number> = {
    calls: counters.calls,
    denied: counters.denied,
    untracked: summary?.untracked ?? 0,
  };
  for (const rule in rates) counterFacts[`rate:${rule}`] = rates[rule] as number;
  const sessionFacts: SessionInput['session'] = {
    id: record.id,
    purpose: record.purpose,
    age_s: Math.max(0, Math.floor((now - record.createdAt) / 1000)),
    history,
    summary: policySummary(summary),
    labels: facts.session.dlp?.labels ?? NO_LABELS,
    finding_counts: facts.session.dlp?.findingCounts ?? NO_COUNTS,
    counters: counterFacts,
  };
  if (record.expiresAt !== null)
    sessionFacts.ttl_s = Math.round((record.expiresAt - record.createdAt) / 1000);
  const input: SessionInput = {
    action,
    identity: facts.identity,
    session: sessionFacts,
    findings: [],
    request,
  };
  if (target !== undefined) {
    // Assigned one by one (a spread per request cost measurable CPU on the hot path).
    if (target.tool !== undefined) input.tool = target.tool;
    if (target.resource !== undefined) input.resource = target.resource;
    if (target.prompt !== undefined) input.prompt = target.prompt;
    if (target.arguments !== undefined) input.arguments = target.arguments;
    if (target.completion !== undefined) input.completion = target.completion;
    if (target.task !== undefined) input.task = target.task;
    if (target.catalog !== undefined) input.catalog = target.catalog;
    if (target.upstream !== undefined) {
      input.upstream = target.upstream;
      if (target.related !== undefined) input.related = target.related;
      if (target.sampling !== undefined) input.sampling = target.sampling;
      if (target.elicitation !== undefined) input.elicitation = target.elicitation;
      if (target.roots !== undefined) input.roots = target.roots;
    }
  }
  return input;
}

const NO_LABELS: string[] = Object.freeze([]) as unknown as string[];
const NO_COUNTS: Record<string, number> = Object.freeze({});

/**
 * The input of a result decision: the call's own input (its facts as the call was decided),
 * the result action, the argument findings, and the result's facts.
 */
export function buildResultInput(
  call: SessionInput,
  action: ResultAction,
  argumentFindings: Finding[],
  result: ResultFacts,
): SessionInput {
  return { ...call, action, findings: argumentFindings, result };
}

/** The input of an operator's admin action: no session, only who acts on what. */
export function buildAdminInput(
  operation: 'list' | 'show' | 'kill',
  identity: Identity,
  gateway: { id: string; version: string },
  sessionId: string | undefined,
  now = Date.now(),
): PolicyInput {
  const admin = sessionId === undefined ? {} : { session_id: sessionId };
  return buildOperatorInput(`admin/sessions/${operation}`, identity, gateway, admin, now);
}

/** The input of an approvals action: who acts, and on which approval (none for list). */
export function buildApprovalsInput(
  operation: 'list' | 'show' | 'decide',
  identity: Identity,
  gateway: { id: string; version: string },
  approval: ApprovalFacts | undefined,
  now = Date.now(),
): PolicyInput {
  const admin = approval === undefined ? {} : { approval };
  return buildOperatorInput(`admin/approvals/${operation}`, identity, gateway, admin, now);
}

/** The input of an operator's action (admin API, console): no session, who acts on what. */
export function buildOperatorInput(
  action: Extract<PolicyAction, `admin/${string}`>,
  identity: Identity,
  gateway: { id: string; version: string },
  admin: NonNullable<PolicyInput['admin']>,
  now = Date.now(),
): PolicyInput {
  return {
    action,
    identity,
    admin,
    findings: [],
    request: { time_ns: now * 1_000_000, time: new Date(now).toISOString(), gateway },
  };
}

/**
 * A session as the store would load it after exactly these calls, for dry runs (`mcpgate
 * eval`) and the benchmark: the policy sees it as it would see a real one.
 */
export function hypotheticalSession(options: {
  id: string;
  purpose: string;
  history: HistoryEntry[];
  createdAt: number;
  principal?: string;
}): LoadedSession {
  const { history } = options;
  const denied = history.filter((entry) => !entry.allowed).length;
  return {
    record: {
      id: options.id,
      principal: options.principal ?? '',
      subject: '',
      purpose: options.purpose,
      createdAt: options.createdAt,
      expiresAt: null,
      protocolVersion: '',
      clientInfo: null,
      clientCapabilities: {},
    },
    history,
    summary: summaryOfHistory(history),
    counters: { calls: history.length, denied },
    rates: {},
  };
}

/**
 * The input as the policy in force gets it, serialised once (the decision log writes the
 * same text). session.history is left out when the policy provably never reads it
 * (PolicyEngine.omitsHistory: `mcpgate policy build` proved it from the Rego and recorded
 * it in the bundle); every other policy gets the whole input.
 */
export function policyInputJson(input: PolicyInput, omitHistory: boolean): string {
  if (!omitHistory || input.session === undefined) return JSON.stringify(input);
  // JSON.stringify leaves out a property whose value is undefined.
  return JSON.stringify({ ...input, session: { ...input.session, history: undefined } });
}
