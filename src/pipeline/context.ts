// The one typed context of a decided request, built once when the request arrives and
// passed through every stage of its chain. Stages read what earlier stages found and add
// their own part; nothing about the request travels on HTTP objects or in flags read
// elsewhere. A class, so every context has the same shape (one hidden class for V8).
import type { RequestId, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamRoots } from '../config/load.js';
import type { Caller } from '../identity/caller.js';
import type { ClientRequest } from '../mcp/server/dispatcher.js';
import type { Identity } from '../identity/identity.js';
import type { Credential } from '../credentials/broker.js';
import type { LocatedFinding } from '../inspect/finding.js';
import type { DecisionEvaluation, VisibleEvaluation } from '../policy/decide.js';
import { deny as denyDecision, type Decision } from '../policy/decision.js';
import type { CompletionFacts, PolicyAction, PolicyInput, ResultFacts } from '../policy/input.js';
import { NO_TYPED_OBLIGATIONS, type TypedObligations } from '../policy/obligations.js';
import type { BehaviourUpdate, LoadedSession } from '../sessions/store.js';
import type { Catalog, PromptEntry, ToolEntry } from '../upstreams/catalog.js';
import type { Arrival, RequestTrace, TraceCarrier } from '../telemetry/tracing.js';
import type { Cancellation } from '../util/cancellation.js';

/** The methods about a task (MCP 2025-11-25): bound to the task's session, not decided. */
export type TaskMethod = 'tasks/get' | 'tasks/result' | 'tasks/list' | 'tasks/cancel';

/** Every method a chain serves: the decided ones (policy actions) and the task methods. */
export type ChainMethod = PolicyAction | TaskMethod;

/** The params of an MCP request, as the dispatcher validated them with the SDK's schema. */
export interface RequestParams {
  name?: string;
  uri?: string;
  arguments?: Record<string, unknown>;
  /** completion/complete: the prompt or resource template, and the argument being completed. */
  ref?: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
  argument?: { name: string; value: string };
  context?: { arguments?: Record<string, string> };
  /** tools/call run as a task (MCP 2025-11-25). */
  task?: { ttl?: number };
  /** tasks/get, tasks/result, tasks/cancel. */
  taskId?: string;
  /** The client's request metadata; stages/request-meta.ts decides what reaches the upstream. */
  _meta?: Record<string, unknown> & { progressToken?: string | number };
  /** A retry of a multi round-trip request (2026-07-28): the answers, and the state it was given. */
  inputResponses?: unknown;
  requestState?: unknown;
}

/** What a request is about, once the resolve stage has found it in the catalog. */
export type Target =
  | { kind: 'tool'; server: string; name: string; id: string; entry: ToolEntry }
  | { kind: 'resource'; server: string; uri: string; id: string }
  | { kind: 'prompt'; server: string; name: string; id: string; entry: PromptEntry }
  | { kind: 'completion'; server: string; id: string; ref: CompletionFacts['ref'] };

/** A task a tools/call created, bound to the session and principal that created it. */
export interface BoundTask {
  /** The id the client knows: the gateway's own, never the upstream's. */
  readonly id: string;
  readonly sessionId: string;
  readonly principal: string;
  /** The upstream's own id of the task. */
  readonly upstreamId: string;
  /** The tool call that created it: the task's result is checked as that call's would be. */
  readonly target: Extract<Target, { kind: 'tool' }>;
  /** The creating decision's obligations: the credential later requests about it run with. */
  readonly obligations: TypedObligations;
  /**
   * The creating call's policy input and decision id: the task's result (tasks/result) is
   * inspected and decided (tools/result) as that call's result would be, linked to it.
   */
  readonly call: { readonly input: PolicyInput; readonly decisionId: string };
  /** Epoch ms after which the gateway forgets the task (its ttl); undefined: with the session. */
  readonly expiresAt: number | undefined;
}

/** The MCP request being served: its cancellation, and its own stream for notifications. */
export interface Exchange {
  readonly cancellation: Cancellation | undefined;
  /** Sends a notification (progress) on the request's own stream. */
  sendNotification(notification: ServerNotification): Promise<void>;
  /**
   * Asks the client something (for an upstream) on the request's own stream and resolves
   * with its answer; `cancellation` withdraws the question.
   */
  sendRequest(
    request: ClientRequest,
    cancellation?: Cancellation,
  ): Promise<Record<string, unknown>>;
}

/**
 * What an upstream asks of a session's client (sampling/createMessage, elicitation/create,
 * roots/list): the server asking, its request, and the client request it belongs to. The
 * context's `exchange` is where the question goes: that request's stream, or the session's.
 */
export interface UpstreamAsk {
  server: string;
  isolation: 'shared' | 'per-session';
  transport: 'stdio' | 'http' | 'sse';
  /** Where the answer to roots/list comes from (the upstream's configuration). */
  roots: UpstreamRoots;
  /** The upstream's own request params, validated by the stage that checks the request. */
  params: Record<string, unknown>;
  /** Cancelled when the upstream withdraws its request, or its connection closes. */
  cancellation: Cancellation;
  /** The client request the upstream is serving, when it is known. */
  related: RequestContext | undefined;
}

/** Sends a notification to one session on its own stream, if this process holds it. */
export type SessionNotifier = (
  sessionId: string,
  notification: ServerNotification,
) => Promise<void>;

/**
 * Why a request was denied, as a stable code (the metric mcpgate_denials_total counts by
 * it; the reason text is for people). `policy`: the policy said no; `policy_error`: it
 * could not say (no policy, an evaluation error, a malformed decision).
 */
export type DenialCode =
  | 'policy'
  | 'policy_error'
  | 'rate_limited'
  | 'session_gone'
  | 'session_limit'
  | 'store_unavailable'
  | 'decision_log_unavailable'
  | 'credential'
  | 'approval_denied'
  | 'approval_expired'
  | 'approval_refused'
  | 'holding_limit'
  | 'obligation_unsupported'
  | 'result_denied'
  | 'step_up'
  // An upstream's InputRequiredResult the gateway cannot pass on (questions of a kind it
  // does not pass on, or a handshake-era client that cannot be asked them).
  | 'input_unsupported'
  // An upstream that still needs input after the most rounds of questions the gateway asks.
  | 'input_rounds';

/** Why a stage denied: the reason the user sees, and what the answer must carry. */
export interface Denial {
  reason: string;
  code: DenialCode;
  /** Entra interaction_required: the claims challenge the client must satisfy. */
  claimsChallenge?: string;
  /** The store could not be reached: the client should retry (session/open answers 503). */
  unavailable?: Error;
  /** session/open: the user has as many sessions open as one may (answered 429). */
  principalFull?: boolean;
  /** The decision log did not accept the decision's line: nothing may be served. */
  unrecorded?: boolean;
  /** step_up: the HTTP answer that makes the client authenticate again. */
  stepUp?: { status: 401 | 403; wwwAuthenticate: string };
}

export class RequestContext {
  /** What the resolve stage found; undefined for lists and session/open. */
  target: Target | undefined = undefined;
  /** The arguments as the client sent them (tools/call, prompts/get). */
  args: Record<string, unknown> = NO_ARGS;
  /** The catalog a list request shows (the one its policy input described). */
  catalog: Catalog | undefined = undefined;
  /** The policy input, built once by the input stage. */
  input: PolicyInput | undefined = undefined;
  /** The policy's answer to mcp/authz/decision, as evaluated. */
  evaluation: DecisionEvaluation | undefined = undefined;
  /** The policy's answer to mcp/authz/visible (lists). */
  visible: VisibleEvaluation | undefined = undefined;
  /**
   * The decision in force: the policy's, until a later stage (credential, rate limit, store)
   * turns an allow into a deny. The decision log records this one.
   */
  decision: Decision | undefined = undefined;
  obligations: TypedObligations = NO_TYPED_OBLIGATIONS;
  /** Set when a stage after the policy denied the request (what the answer must carry). */
  denial: Denial | undefined = undefined;
  /** The credential an allowed call runs with. */
  credential: Credential | undefined = undefined;
  /** The request `_meta` the upstream gets (the client's, without the gateway's own keys). */
  upstreamMeta: Record<string, unknown> | undefined = undefined;
  /**
   * A retry of a call the upstream needed input for (MRTR, 2026-07-28): the client's answers
   * and the upstream's own requestState, once the gateway's seal on it was checked.
   */
  retry: { inputResponses: unknown; upstreamState: string | undefined } | undefined = undefined;
  /** The id of the decision log entry for this request. */
  decisionId = '';
  /** The answer for the client, set by the stage that produced it. */
  result: unknown = undefined;
  /** session/open: the instructions the initialize result carries (the policy chose them). */
  instructions: string | undefined = undefined;
  /** Server-to-client chains: what the upstream asks (see UpstreamAsk). */
  ask: UpstreamAsk | undefined = undefined;
  /**
   * Settles once the upstream's log messages that belong to this call and wait for a
   * decision have been delivered: the answer goes after them (log-relay.ts).
   */
  heldNotifications: Promise<unknown> | undefined = undefined;
  /** tasks/get, tasks/result, tasks/cancel: the task the request is about. */
  task: BoundTask | undefined = undefined;
  /** Per-stage durations in ns, when the chain is timed (see Chain). */
  timings: number[] | undefined = undefined;
  /** The request's spans, when it is traced (stages/observe.ts starts them). */
  trace: RequestTrace | undefined = undefined;
  /** What a stage threw, for the stages that run after the answer (the chain sets it). */
  thrown: unknown = undefined;
  /** performance.now() when the chain started, when the request is measured. */
  startedAt = 0;
  /** What the guardrails found in the arguments (facts in input.findings). */
  argumentFindings: readonly LocatedFinding[] = NO_FINDINGS;
  /** What the output inspection found in the upstream's answer, before any redaction. */
  resultInspection: ResultInspection | undefined = undefined;
  /** Why the result could not be inspected (it is denied, fail closed). */
  resultRefusal: string | undefined = undefined;
  /** The decision on the result (tools/result, …), when one was taken. */
  resultEvaluation: DecisionEvaluation | undefined = undefined;
  /** The decision log id of the result decision. */
  resultDecisionId = '';
  /** HistoryEntry.args_digest of the call, once a stage has worked it out. */
  argsDigest: string | undefined = undefined;
  /** What this call adds to the session's behaviour state (stages/behaviour.ts). */
  behaviourUpdate: BehaviourUpdate | undefined = undefined;
  /** Per label, the sketch of the result's text for the session (stages/sketch-result.ts). */
  resultSketches: Record<string, Uint8Array> | undefined = undefined;

  constructor(
    readonly action: ChainMethod,
    /** The JSON-RPC id; undefined for a decision no request asked for (a notification). */
    readonly requestId: RequestId | undefined,
    readonly caller: Caller,
    /**
     * The session as loaded for this request. Server-to-client chains load it again when
     * the upstream asks (stages/check-session.ts): the session may have changed, or ended.
     */
    public session: LoadedSession,
    readonly protocolVersion: string | undefined,
    readonly params: RequestParams,
    readonly exchange: Exchange | undefined,
    /** When the request arrived (epoch ms): the policy's request.time. */
    readonly now: number,
    /** W3C trace context the client sent (params._meta first, else HTTP headers). */
    readonly incomingTrace: TraceCarrier | undefined = undefined,
    /** When the HTTP request arrived and was authenticated (traced requests only). */
    readonly arrival: Arrival | undefined = undefined,
  ) {}

  get identity(): Identity {
    return this.caller.identity;
  }

  /** True once the policy, or a stage after it, has denied the request. */
  get denied(): boolean {
    return this.decision !== undefined && !this.decision.allow;
  }

  /**
   * Turns the decision in force into a deny with this reason. The policy's obligations stay
   * (terminate_session still ends the session); its allow notes would only confuse a denial.
   */
  deny(denial: Denial): void {
    this.denial = denial;
    const denied = denyDecision(denial.reason);
    if (this.decision) denied.obligations = this.decision.obligations;
    this.decision = denied;
  }
}

const NO_ARGS: Record<string, unknown> = Object.freeze({});
const NO_FINDINGS: readonly LocatedFinding[] = Object.freeze([]);

/** The output inspection of one result: the findings with their spans, and the facts. */
export interface ResultInspection {
  findings: LocatedFinding[];
  facts: Omit<ResultFacts, 'findings'>;
}
