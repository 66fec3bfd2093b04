// Every decided method's chain of stages, assembled here and nowhere else. Adding a
// capability is a new stage file plus one line in the chains below. `explain()` prints
// them in order (`mcpgate start --explain`).
import type { DecisionLog } from '../audit/decision-log.js';
import type { CredentialBroker } from '../credentials/broker.js';
import { POLICY_DENIED, RpcError } from '../mcp/jsonrpc/errors.js';
import { decide, type DecisionEvaluation } from '../policy/decide.js';
import type { Decision } from '../policy/decision.js';
import { DECISION_ENTRYPOINT } from '../policy/engine.js';
import type { PolicyHolder } from '../policy/holder.js';
import { buildAdminInput, type PolicyAction } from '../policy/input.js';
import type { Identity } from '../identity/identity.js';
import type { SessionStore } from '../sessions/store.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';
import type { Logger } from '../util/logger.js';
import { Chain, type Stage, type StageTimer } from './chain.js';
import type { RequestContext } from './context.js';
import { auditDecision, auditVisible, recorded } from './stages/audit.js';
import { buildRequestInput, type GatewayFacts } from './stages/build-input.js';
import { checkToolOutput } from './stages/check-output.js';
import { issueCredential } from './stages/credential.js';
import { decideRequest } from './stages/decide.js';
import { decideVisibleItems } from './stages/decide-visible.js';
import { endUnrecordedSession } from './stages/end-unrecorded-session.js';
import { forwardToUpstream } from './stages/forward.js';
import { namespaceResultAddresses } from './stages/namespace-result.js';
import { openSession, type SessionOpenLimits } from './stages/open-session.js';
import { recordCall, type RecordLimits } from './stages/record.js';
import { beginObservation, endObservation, type RequestTelemetry } from './stages/observe.js';
import { forwardRequestMeta } from './stages/request-meta.js';
import { resolveTarget } from './stages/resolve-target.js';
import { showInstructions } from './stages/show-instructions.js';
import { showVisible } from './stages/show-visible.js';
import { terminateWhenObliged, type TerminateSession } from './stages/terminate.js';

export interface PipelineDeps {
  policy: PolicyHolder;
  registry: UpstreamRegistry;
  store: SessionStore;
  limits: RecordLimits & SessionOpenLimits;
  decisionLog: DecisionLog;
  logger: Logger;
  gateway: GatewayFacts;
  broker: CredentialBroker;
  /** Ends a session everywhere after the current answer (obligation terminate_session). */
  terminate: TerminateSession;
  /** Per-stage timings for metrics; absent, no clock is read. */
  timer?: StageTimer;
  /** Metrics and traces of every request; absent (both off), no chain has the observe stages. */
  telemetry?: RequestTelemetry;
}

/** What session/open decided, for the HTTP layer to answer. */
export interface SessionOpening {
  decision: Decision;
  decisionId: string;
  /** The instructions for the initialize result, when the session was opened. */
  instructions: string | undefined;
  /** Set when the store could not be reached: the client should retry. */
  unavailable: Error | undefined;
  /** True when the user already has sessions.max_sessions_per_principal sessions open. */
  principalFull: boolean;
}

export class Pipeline {
  private readonly chains = new Map<PolicyAction, Chain>();

  constructor(private readonly deps: PipelineDeps) {
    const { policy, registry, store, limits, decisionLog, logger, gateway, broker } = deps;
    const resolve = resolveTarget(registry);
    const input = buildRequestInput(gateway, registry);
    const decideStage = decideRequest(policy, logger);
    const credential = issueCredential(registry, broker);
    const record = recordCall(store, limits);
    const audit = auditDecision(decisionLog);
    const meta = forwardRequestMeta();
    const forward = forwardToUpstream(registry, deps.telemetry);
    const addresses = namespaceResultAddresses();
    const terminate = terminateWhenObliged(deps.terminate);

    // A decided call: what it is, the policy's decision, what the decision obliges, the call.
    const call = (action: PolicyAction, render: (ctx: RequestContext) => unknown, after: Stage[]) =>
      this.add(
        action,
        [
          resolve,
          input,
          decideStage,
          credential,
          record,
          audit,
          meta,
          forward,
          addresses,
          ...after,
          terminate,
        ],
        render,
      );
    call('tools/call', renderToolCall, [checkToolOutput()]);
    call('resources/read', renderOrThrow, []);
    call('prompts/get', renderOrThrow, []);

    // A list: one decision for the whole list, then only what it made visible.
    const decideVisible = decideVisibleItems(policy, logger);
    const auditVisibleItems = auditVisible(decisionLog);
    const visible = [input, decideVisible, auditVisibleItems, showVisible()];
    for (const action of [
      'tools/list',
      'resources/list',
      'resources/templates/list',
      'prompts/list',
    ] as const) {
      this.add(action, visible, (ctx) => ctx.result);
    }

    // session/open: may this user have a session of this purpose; then which upstreams'
    // instructions it is shown (a visible decision over the instruction items).
    this.add(
      'session/open',
      [
        input,
        decideStage,
        openSession(store, limits),
        audit,
        endUnrecordedSession(deps.terminate),
        decideVisible,
        auditVisibleItems,
        showInstructions(),
      ],
      (ctx) => ctx,
    );
  }

  private add(
    action: PolicyAction,
    stages: Stage[],
    render: (ctx: RequestContext) => unknown,
  ): void {
    // Metrics and traces wrap every chain: the first stage starts them, the last records.
    const observed = this.observe ? [this.observe.begin, ...stages, this.observe.end] : stages;
    this.chains.set(action, new Chain(action, observed, render, this.deps.timer));
  }

  private get observe(): { begin: Stage; end: Stage } | undefined {
    const telemetry = this.deps.telemetry;
    if (telemetry?.metrics === undefined && telemetry?.tracing === undefined) return undefined;
    this.observeStages ??= {
      begin: beginObservation(telemetry),
      end: endObservation(telemetry),
    };
    return this.observeStages;
  }

  private observeStages: { begin: Stage; end: Stage } | undefined;

  /** Runs the request's chain; resolves to the method's answer. */
  run(ctx: RequestContext): Promise<unknown> {
    const chain = this.chains.get(ctx.action);
    if (!chain) return Promise.reject(new Error(`no chain serves ${ctx.action}`));
    return chain.run(ctx);
  }

  /** session/open: may this user have a session of this purpose, and for how long. */
  async openSession(ctx: RequestContext): Promise<SessionOpening> {
    await this.run(ctx);
    const decision = ctx.decision;
    if (!decision) throw new Error('session/open ended without a decision');
    return {
      decision,
      decisionId: ctx.decisionId,
      unavailable: ctx.denial?.unavailable,
      principalFull: ctx.denial?.principalFull === true,
      instructions: ctx.instructions,
    };
  }

  /**
   * An operator's admin action (list, show, kill sessions), decided and logged. `unrecorded`
   * says why the decision log did not accept it: then nothing may be done.
   */
  async decideAdmin(request: {
    identity: Identity;
    operation: 'list' | 'show' | 'kill';
    sessionId: string | undefined;
    remoteAddress: string | undefined;
  }): Promise<{ decision: Decision; decisionId: string; unrecorded?: string }> {
    const input = buildAdminInput(
      request.operation,
      request.identity,
      this.deps.gateway,
      request.sessionId,
    );
    const evaluation: DecisionEvaluation = decide(this.deps.policy.current(), input);
    const metrics = this.deps.telemetry?.metrics;
    if (metrics !== undefined) {
      metrics.policyEvaluation(DECISION_ENTRYPOINT).observe(evaluation.evalNs / 1e9);
      metrics
        .decision(DECISION_ENTRYPOINT, evaluation.decision.allow ? 'allow' : 'deny', 'admin')
        .inc();
    }
    if (evaluation.error !== undefined) {
      this.deps.logger.error('policy evaluation failed', {
        error: evaluation.error,
        revision: evaluation.revision,
      });
    }
    // Admin decisions carry no session; the log names none.
    const logged = this.deps.decisionLog.write(
      {
        path: DECISION_ENTRYPOINT,
        inputJson: evaluation.inputJson,
        result: evaluation.decision,
        revision: evaluation.revision,
        evalNs: evaluation.evalNs,
        reqId: undefined,
        sessionId: undefined,
        requestedBy: request.remoteAddress,
      },
      evaluation.engine,
    );
    const outcome = await recorded(logged, evaluation.decision.allow);
    const decisionId = logged.decisionId;
    if (outcome !== undefined && 'deny' in outcome) {
      return { decision: evaluation.decision, decisionId, unrecorded: outcome.deny.reason };
    }
    return { decision: evaluation.decision, decisionId };
  }

  /** Every chain in order, one stage a line. */
  explain(): string {
    return [...this.chains.values()].map((chain) => chain.describe()).join('\n\n');
  }
}

function denialText(decision: Decision): string {
  return `Denied by policy: ${decision.reasons.join('; ')}`;
}

function denialMeta(ctx: RequestContext, decision: Decision): Record<string, unknown> {
  const meta: Record<string, unknown> = { decision_id: ctx.decisionId, reasons: decision.reasons };
  const challenge = ctx.denial?.claimsChallenge;
  if (challenge !== undefined) meta.claims_challenge = challenge;
  return meta;
}

/** tools/call: a denial is a tool error the agent can read, with the decision in _meta. */
function renderToolCall(ctx: RequestContext): unknown {
  const { decision } = ctx;
  if (!decision?.allow) return deniedToolResult(ctx, decision);
  return ctx.result;
}

function deniedToolResult(ctx: RequestContext, decision: Decision | undefined): unknown {
  if (!decision) throw new Error('tools/call ended without a decision');
  return {
    content: [{ type: 'text', text: denialText(decision) }],
    isError: true,
    _meta: { 'mcpgate/decision': denialMeta(ctx, decision) },
  };
}

/** resources/read, prompts/get: a denial is a JSON-RPC error carrying the decision. */
function renderOrThrow(ctx: RequestContext): unknown {
  const { decision } = ctx;
  if (!decision) throw new Error(`${ctx.action} ended without a decision`);
  if (!decision.allow) {
    throw new RpcError(POLICY_DENIED, denialText(decision), denialMeta(ctx, decision));
  }
  return ctx.result;
}
