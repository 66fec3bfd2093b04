// The one typed context of a decided request, built once when the request arrives and
// passed through every stage of its chain. Stages read what earlier stages found and add
// their own part; nothing about the request travels on HTTP objects or in flags read
// elsewhere. A class, so every context has the same shape (one hidden class for V8).
import type { RequestId, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from '../identity/caller.js';
import type { Identity } from '../identity/identity.js';
import type { Credential } from '../credentials/broker.js';
import type { DecisionEvaluation, VisibleEvaluation } from '../policy/decide.js';
import { deny as denyDecision, type Decision } from '../policy/decision.js';
import type { PolicyAction, PolicyInput } from '../policy/input.js';
import { NO_TYPED_OBLIGATIONS, type TypedObligations } from '../policy/obligations.js';
import type { LoadedSession } from '../sessions/store.js';
import type { Catalog, PromptEntry, ToolEntry } from '../upstreams/catalog.js';
import type { Arrival, RequestTrace, TraceCarrier } from '../telemetry/tracing.js';
import type { Cancellation } from '../util/cancellation.js';

/** The params of a decided MCP request, as the dispatcher validated them with the SDK's schema. */
export interface RequestParams {
  name?: string;
  uri?: string;
  arguments?: Record<string, unknown>;
  /** The client's request metadata; stages/request-meta.ts decides what reaches the upstream. */
  _meta?: Record<string, unknown> & { progressToken?: string | number };
}

/** What a request is about, once the resolve stage has found it in the catalog. */
export type Target =
  | { kind: 'tool'; server: string; name: string; id: string; entry: ToolEntry }
  | { kind: 'resource'; server: string; uri: string; id: string }
  | { kind: 'prompt'; server: string; name: string; id: string; entry: PromptEntry };

/** The MCP request being served: its cancellation, and its own stream for notifications. */
export interface Exchange {
  readonly cancellation: Cancellation | undefined;
  /** Sends a notification (progress) on the request's own stream. */
  sendNotification(notification: ServerNotification): Promise<void>;
}

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
  | 'credential';

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
  /** The id of the decision log entry for this request. */
  decisionId = '';
  /** The answer for the client, set by the stage that produced it. */
  result: unknown = undefined;
  /** session/open: the instructions the initialize result carries (the policy chose them). */
  instructions: string | undefined = undefined;
  /** Per-stage durations in ns, when the chain is timed (see Chain). */
  timings: number[] | undefined = undefined;
  /** The request's spans, when it is traced (stages/observe.ts starts them). */
  trace: RequestTrace | undefined = undefined;
  /** What a stage threw, for the stages that run after the answer (the chain sets it). */
  thrown: unknown = undefined;
  /** performance.now() when the chain started, when the request is measured. */
  startedAt = 0;

  constructor(
    readonly action: PolicyAction,
    readonly requestId: RequestId,
    readonly caller: Caller,
    readonly session: LoadedSession,
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
