// Every method's chain of stages, assembled here and nowhere else: the decided ones, the
// decision on delivering a resource update, and the task methods (bound to their session,
// not decided again). Adding a capability is a new stage file plus one line in the chains
// below. `explain()` prints them in order (`mcpgate start --explain`).
import { createSecretKey, randomBytes } from 'node:crypto';
import type { DecisionLog } from '../audit/decision-log.js';
import type { AlertsConfig } from '../config/alerts.js';
import type { ApprovalsConfig } from '../config/approvals.js';
import {
  guardrailsSchema,
  resolveGuardrails,
  type GuardrailsConfig,
} from '../config/guardrails.js';
import type { CredentialBroker } from '../credentials/broker.js';
import { builtInDetectors } from '../inspect/detectors.js';
import { ExternalInspector } from '../inspect/external.js';
import { Walker } from '../inspect/walk.js';
import { GATEWAY_REFUSED, POLICY_DENIED, RpcError } from '../mcp/jsonrpc/errors.js';
import { HTTP_ANSWER_KEY } from '../mcp/server/http-transport.js';
import { decide, type DecisionEvaluation } from '../policy/decide.js';
import type { Decision } from '../policy/decision.js';
import { DECISION_ENTRYPOINT } from '../policy/engine.js';
import type { PolicyHolder } from '../policy/holder.js';
import {
  buildAdminInput,
  type PolicyAction,
  type PolicyInput,
  type UpstreamAskAction,
} from '../policy/input.js';
import { CancellationSource } from '../util/cancellation.js';
import { catalogReview, type CatalogReviewItem } from '../policy/trust-review.js';
import type { Identity } from '../identity/identity.js';
import type { Caller } from '../identity/caller.js';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { TraceCarrier } from '../telemetry/tracing.js';
import type { LoadedSession, SessionStore } from '../sessions/store.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';
import type { Logger } from '../util/logger.js';
import type { Catalog } from '../upstreams/catalog.js';
import { RequestStates } from '../mcp/server/request-state.js';
import { NO_PINS } from '../upstreams/trust/pins.js';
import { ApprovalDesk } from './approval-desk.js';
import { Chain, type Stage, type StageTimer } from './chain.js';
import { RequestContext, type ChainMethod, type SessionNotifier } from './context.js';
import { answerConfiguredRoots } from './stages/answer-roots.js';
import { alertWhenObliged } from './stages/alert.js';
import { holdForApproval } from './stages/approval.js';
import { askTheClient } from './stages/ask-client.js';
import { askHandshakeClient } from './stages/ask-for-input.js';
import { auditDecision, auditVisible, recorded } from './stages/audit.js';
import { auditResultDecision } from './stages/audit-result.js';
import { behaviourSignals } from './stages/behaviour.js';
import { bindTask } from './stages/bind-task.js';
import { cacheDirectives } from './stages/cache-directives.js';
import { buildRequestInput, type GatewayFacts } from './stages/build-input.js';
import { obligationsCarriedOut } from './stages/carry-out.js';
import { checkUpstreamAsk } from './stages/check-ask.js';
import { checkSessionOpen } from './stages/check-session.js';
import { checkToolOutput } from './stages/check-output.js';
import { offerCompletionValues, showCompletionValues } from './stages/completion-values.js';
import { issueCredential } from './stages/credential.js';
import { decideRequest } from './stages/decide.js';
import { decideResult } from './stages/decide-result.js';
import { decideVisibleItems } from './stages/decide-visible.js';
import { deliverUpdate } from './stages/deliver-update.js';
import { endUnrecordedSession } from './stages/end-unrecorded-session.js';
import { forwardToUpstream } from './stages/forward.js';
import { forwardTask } from './stages/forward-task.js';
import { holdingLimit } from './stages/holding-limit.js';
import { inspectArguments } from './stages/inspect-arguments.js';
import { inspectResult } from './stages/inspect-result.js';
import { listTasks } from './stages/list-tasks.js';
import { namespaceResultAddresses } from './stages/namespace-result.js';
import { openSession, type SessionOpenLimits } from './stages/open-session.js';
import { recordCall, type RecordLimits } from './stages/record.js';
import { beginObservation, endObservation, type RequestTelemetry } from './stages/observe.js';
import { measureUpstreamCall } from './stages/observe-upstream.js';
import { recordFindings } from './stages/record-findings.js';
import { forwardRequestMeta } from './stages/request-meta.js';
import { checkRequestState, passInputRequired } from './stages/request-state.js';
import { resolveTarget } from './stages/resolve-target.js';
import { resolveTask } from './stages/resolve-task.js';
import { GATEWAY_INSTRUCTIONS, showInstructions } from './stages/show-instructions.js';
import { sketchResult } from './stages/sketch-result.js';
import { stepUpWhenObliged } from './stages/step-up.js';
import { showVisible } from './stages/show-visible.js';
import { taskCallInput } from './stages/task-call-input.js';
import { holdSubscription } from './stages/subscribe.js';
import { terminateWhenObliged, type TerminateSession } from './stages/terminate.js';
import { throttleWhenObliged } from './stages/throttle.js';
import { validateArguments } from './stages/validate-arguments.js';
import {
  MAX_SUBSCRIPTIONS_PER_SESSION,
  ResourceSubscriptions,
  type Subscriber,
} from './subscriptions.js';
import { MAX_TASKS_PER_SESSION, TaskBindings } from './tasks.js';
import { UrlElicitations } from './url-elicitations.js';

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
  /** Sends a notification on a session's own stream (resource updates, task status). */
  notify: SessionNotifier;
  /** Per-stage timings for metrics; absent, no clock is read. */
  timer?: StageTimer;
  /** Metrics and traces of every request; absent (both off), no chain has the observe stages. */
  telemetry?: RequestTelemetry;
  /** How require_approval is carried out; the approval page's base URL. */
  approvals: ApprovalsConfig;
  /** Where alerts go besides the log; absent: the log only. */
  alerts?: AlertsConfig;
  consoleUrl: () => string;
  /**
   * The URL of the protected resource metadata (RFC 9728), named in the step_up challenge
   * as in the edge's 401s; known once the gateway listens.
   */
  resourceMetadataUrl: () => string;
  /** The guardrails (argument schemas, inspection, external inspectors); absent: the defaults. */
  guardrails?: GuardrailsConfig;
  /**
   * Seals and opens the requestState of multi round-trip requests (MCP 2026-07-28), with
   * the key every replica shares; absent: a random key of this process.
   */
  requestStates?: RequestStates;
}

/** The guardrails of a configuration that says nothing about them. */
export function defaultGuardrails(): GuardrailsConfig {
  return resolveGuardrails(guardrailsSchema.parse(undefined), '.', []);
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
  private readonly chains = new Map<ChainMethod, Chain>();
  /** Decides the questions of an upstream's InputRequiredResult (decideInputRequest). */
  private inputRequests: Chain | undefined;
  /** The instructions an open session is shown again (instructionsOf). */
  private instructions: Chain | undefined;
  /** Approvals: the held calls' side and the approvers' (admin API, console). */
  readonly approvals: ApprovalDesk;
  /** The resource subscriptions of the sessions this process holds. */
  readonly subscriptions: ResourceSubscriptions;
  /** The tasks this process's sessions created. */
  readonly tasks: TaskBindings;
  /** The URL elicitations sessions were asked, for their completions (upstream-messages.ts). */
  readonly elicitations = new UrlElicitations();

  constructor(private readonly deps: PipelineDeps) {
    const { policy, registry, store, limits, decisionLog, logger, gateway, broker } = deps;
    this.approvals = new ApprovalDesk({
      approvals: store.approvals,
      config: deps.approvals,
      decisionLog,
      decideAdmin: (input, remoteAddress, parent) =>
        this.decideAdminInput(input, remoteAddress, parent),
      gateway,
      consoleUrl: deps.consoleUrl,
      logger,
    });
    const resolve = resolveTarget(registry);
    const input = buildRequestInput(gateway, registry, policy);
    const decideStage = decideRequest(policy, logger);
    const credential = issueCredential(registry, broker);
    const record = recordCall(store, limits);
    const audit = auditDecision(decisionLog);
    const meta = forwardRequestMeta();
    const forward = measureUpstreamCall(forwardToUpstream(registry), deps.telemetry ?? {});
    const addresses = namespaceResultAddresses(registry);
    const terminate = terminateWhenObliged(deps.terminate);
    const approval = holdForApproval(this.approvals, registry, credential);
    const guardrails = deps.guardrails ?? defaultGuardrails();
    const walker = new Walker(builtInDetectors(guardrails.nationalIds), guardrails.inspection);
    // Before the decision: the arguments' schema, then what they carry.
    const checkArguments = guardrails.checkArgumentSchemas ? [validateArguments(logger)] : [];
    const argumentFacts = guardrails.inspect ? [inspectArguments(walker)] : [];
    // After the call: the result inspected, decided on, logged, its findings recorded.
    const inspectors = guardrails.inspectors.map((c) => new ExternalInspector(c));
    const resultStages =
      guardrails.inspect || inspectors.length > 0
        ? [
            inspectResult(walker, inspectors, logger),
            decideResult(policy, logger, guardrails.decideResults),
            auditResultDecision(decisionLog),
          ]
        : [];
    const findings = recordFindings(store);
    const states = deps.requestStates ?? new RequestStates(createSecretKey(randomBytes(32)));
    const checkState = checkRequestState(states, store);
    const inputRequired = passInputRequired(states, (call, method, params) =>
      this.decideInputRequest(call, method, params),
    );
    const askForInput = askHandshakeClient(forward, (call, method, params) =>
      this.run(this.inputRequestContext(call, method, params, call.exchange)),
    );
    const signals = behaviourSignals(policy);
    const sketch = sketchResult();
    const stepUp = stepUpWhenObliged(deps.resourceMetadataUrl);
    const alert = alertWhenObliged(logger, deps.alerts?.webhooks ?? [], gateway.id);
    const throttle = throttleWhenObliged();

    // A decided call: what it is, the policy's decision, what the decision obliges, the call.
    // `before`: checks and facts before the decision; `limit`: a bound on what the call
    // would leave the session holding, checked before it is recorded.
    const call = (
      action: PolicyAction,
      render: (ctx: RequestContext) => unknown,
      before: Stage[],
      after: Stage[],
      limit: Stage[] = [],
    ) =>
      this.add(
        action,
        [
          resolve,
          checkState,
          ...before,
          input,
          signals,
          decideStage,
          stepUp,
          ...limit,
          credential,
          record,
          audit,
          alert,
          approval,
          throttle,
          meta,
          forward,
          askForInput,
          inputRequired,
          ...resultStages,
          sketch,
          findings,
          addresses,
          ...after,
          terminate,
        ],
        render,
      );
    const tasks = (this.tasks = new TaskBindings(deps.notify));
    const taskLimit = holdingLimit({
      name: 'tasks',
      held: (ctx) =>
        ctx.params.task === undefined ? undefined : tasks.count(ctx.session.record.id),
      limit: MAX_TASKS_PER_SESSION,
      reason: (limit) =>
        `this session holds ${limit} tasks, the most it may; wait for one to end (its ttl) or call the tool without params.task`,
    });
    const checkOutput = checkToolOutput();
    call(
      'tools/call',
      renderToolCall,
      [...checkArguments, ...argumentFacts],
      [bindTask(registry, tasks), checkOutput],
      [taskLimit],
    );
    call('resources/read', renderOrThrow, [], []);
    call('prompts/get', renderOrThrow, argumentFacts, []);

    // completion/complete: decided like a call (the typed value can leak), then the values
    // the upstream suggests are shown only as far as the policy makes them visible.
    const decideVisible = decideVisibleItems(policy, logger);
    const auditVisibleItems = auditVisible(decisionLog);
    this.add(
      'completion/complete',
      [
        resolve,
        input,
        decideStage,
        credential,
        record,
        audit,
        meta,
        forward,
        offerCompletionValues(),
        decideVisible,
        auditVisibleItems,
        showCompletionValues(),
        terminate,
      ],
      renderOrThrow,
    );

    // Resource subscriptions: decided like a read; the upstream is subscribed once per
    // connection and URI (pipeline/subscriptions.ts).
    const subscriptions = (this.subscriptions = new ResourceSubscriptions(
      (server, uri, subscriber) => this.deliverUpdate(server, uri, subscriber),
      logger,
    ));
    const subscriptionLimit = holdingLimit({
      name: 'resource subscriptions',
      held: (ctx) => {
        const { target } = ctx;
        const sessionId = ctx.session.record.id;
        if (ctx.action !== 'resources/subscribe' || target?.kind !== 'resource') return undefined;
        if (subscriptions.has(sessionId, target.server, target.uri)) return undefined;
        return subscriptions.count(sessionId);
      },
      limit: MAX_SUBSCRIPTIONS_PER_SESSION,
      reason: (limit) =>
        `this session holds ${limit} resource subscriptions, the most it may; unsubscribe from one (resources/unsubscribe) first`,
    });
    const hold = holdSubscription(registry, subscriptions);
    this.add(
      'resources/subscribe',
      [resolve, input, decideStage, subscriptionLimit, credential, record, audit, hold, terminate],
      renderOrThrow,
    );
    this.add(
      'resources/unsubscribe',
      [resolve, input, decideStage, credential, record, audit, hold, terminate],
      renderOrThrow,
    );
    // An upstream's update of a subscribed resource: delivered to a session only while the
    // policy lets that session read it. Not a request of the client's: nothing is recorded.
    this.add(
      'notifications/resources/updated',
      [resolve, input, decideStage, audit, deliverUpdate(deps.notify)],
      (ctx) => ctx.decision?.allow === true,
    );

    // Tasks: bound to the session and principal that created them, not decided again; a
    // task's result goes through the result stages of a call, as the result of the call
    // that created it (inspected, decided as tools/result, logged under that call).
    const findTask = resolveTask(registry, tasks);
    const toTask = measureUpstreamCall(forwardTask(registry), deps.telemetry ?? {});
    this.add('tasks/get', [findTask, credential, meta, toTask], (ctx) => ctx.result);
    this.add('tasks/cancel', [findTask, credential, meta, toTask], (ctx) => ctx.result);
    this.add(
      'tasks/result',
      [
        findTask,
        credential,
        meta,
        toTask,
        taskCallInput(gateway),
        ...resultStages,
        findings,
        addresses,
        checkOutput,
        terminate,
      ],
      renderTaskResult,
    );
    this.add('tasks/list', [listTasks(tasks, (ctx) => this.run(ctx))], (ctx) => ctx.result);

    // A list: one decision for the whole list, then only what it made visible.
    const visible = [input, decideVisible, auditVisibleItems, showVisible(), cacheDirectives()];
    for (const action of [
      'tools/list',
      'resources/list',
      'resources/templates/list',
      'prompts/list',
    ] as const) {
      this.add(action, visible, (ctx) => ctx.result);
    }

    // What an upstream asks of a session's client: the session as it is now, a well-formed
    // request the client declared it can answer, the policy's decision with the upstream as
    // the requester, then the question (roots: the configured ones, unless the client is
    // asked). A denial is a JSON-RPC error to the upstream, and in the decision log.
    const session = checkSessionOpen(store, limits);
    const checkAsk = checkUpstreamAsk();
    const carryOut = obligationsCarriedOut();
    // The questions of an upstream's InputRequiredResult (MRTR): decided and logged as the
    // same questions asked the handshake way, without asking (the client does, on its own).
    this.inputRequests = new Chain(
      'input request (MRTR)',
      [checkAsk, input, decideStage, carryOut, audit],
      (ctx) => ctx,
      deps.timer,
    );
    const ask = askTheClient(this.elicitations);
    for (const action of ['sampling/createMessage', 'elicitation/create'] as const) {
      this.add(
        action,
        [session, checkAsk, input, decideStage, carryOut, audit, ask, terminate],
        renderOrThrow,
      );
    }
    this.add(
      'roots/list',
      [
        session,
        checkAsk,
        input,
        decideStage,
        carryOut,
        audit,
        answerConfiguredRoots(),
        ask,
        terminate,
      ],
      renderOrThrow,
    );

    // Which upstreams' log messages a session receives over shared connections: one
    // visible decision, made when the first such message arrives (log-relay.ts).
    this.add('notifications/message', [input, decideVisible, auditVisibleItems], (ctx) => ctx);

    // server/discover of an open session: the instructions it is shown, decided as at its
    // session/open (the visible decision over the instruction items), without opening it.
    this.instructions = new Chain(
      'instructions of an open session (server/discover)',
      [input, decideVisible, auditVisibleItems, showInstructions()],
      (ctx) => ctx,
      deps.timer,
    );

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
    action: ChainMethod,
    stages: Stage[],
    render: (ctx: RequestContext) => unknown,
  ): void {
    // Metrics and traces wrap every chain: the first stage starts them, the last records.
    const observed = this.observe ? [this.observe.begin, ...stages, this.observe.end] : stages;
    this.chains.set(action, new Chain(action, observed, render, this.deps.timer));
  }

  /** Decides one question of an InputRequiredResult (stages/request-state.ts). */
  private async decideInputRequest(
    call: RequestContext,
    method: UpstreamAskAction,
    params: Record<string, unknown>,
  ): Promise<Decision> {
    const chain = this.inputRequests;
    if (!chain) throw new Error('an input request without its chain');
    const ctx = this.inputRequestContext(call, method, params, undefined);
    await chain.run(ctx);
    if (!ctx.decision) throw new Error('an input request ended without a decision');
    return ctx.decision;
  }

  /**
   * One question of an upstream's InputRequiredResult, as the context of its chain: asked by
   * the call's upstream, related to the call, and asked on `exchange` when it is asked.
   */
  private inputRequestContext(
    call: RequestContext,
    method: UpstreamAskAction,
    params: Record<string, unknown>,
    exchange: RequestContext['exchange'],
  ): RequestContext {
    const server = call.target?.server;
    const config = server === undefined ? undefined : this.deps.registry.configFor(server);
    if (!config) throw new Error('an input request without its upstream');
    const ctx = new RequestContext(
      method,
      call.requestId,
      call.caller,
      call.session,
      call.protocolVersion,
      {},
      exchange,
      Date.now(),
    );
    ctx.ask = {
      server: config.name,
      isolation: config.isolation,
      transport: config.transport,
      roots: config.roots,
      params,
      cancellation: call.exchange?.cancellation ?? new CancellationSource(),
      related: call,
    };
    return ctx;
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

  /** The catalog in force (what the gateway's initialize answer declares depends on it). */
  get catalog(): Catalog {
    return this.deps.registry.catalog;
  }

  /**
   * The live catalog's tool trust under the pins of the policy in force (its revision;
   * none loaded: nothing is pinned), for the admin API and the console (admin/tools/list).
   */
  toolTrust(): { revision: string | undefined; items: CatalogReviewItem[] } {
    const engine = this.deps.policy.current();
    return {
      revision: engine?.revision,
      items: catalogReview(this.deps.registry.catalog, engine?.pins ?? NO_PINS),
    };
  }

  /** Releases what the pipeline holds for a session that ended here: subscriptions, tasks. */
  async releaseSession(sessionId: string): Promise<void> {
    this.tasks.releaseSession(sessionId);
    await this.subscriptions.releaseSession(sessionId);
  }

  /**
   * One upstream update for one subscribed session: the notifications/resources/updated
   * chain decides, with the facts of the session's subscribe, and delivers when allowed.
   */
  private async deliverUpdate(server: string, uri: string, subscriber: Subscriber): Promise<void> {
    const { caller, session, protocolVersion } = subscriber.facts;
    const ctx = new RequestContext(
      'notifications/resources/updated',
      undefined,
      caller,
      session,
      protocolVersion,
      // The address the session subscribed by, as the catalog shows this server's URIs.
      { uri: this.deps.registry.catalog.exposeUri(server, uri) },
      undefined,
      Date.now(),
    );
    await this.run(ctx);
  }

  /**
   * The instructions an open session is shown when it asks again (server/discover): the
   * gateway's line and the sections of the upstreams the policy shows it, as its
   * session/open combined them. The policy sees the session/open input of the session as it
   * is now; a visible decision that fails shows the gateway's line alone.
   */
  async instructionsOf(
    caller: Caller,
    session: LoadedSession,
    requestId: RequestId,
    traceCarrier: TraceCarrier | undefined,
  ): Promise<string> {
    const chain = this.instructions;
    if (!chain) throw new Error('the instructions chain is not built');
    const ctx = new RequestContext(
      'session/open',
      requestId,
      caller,
      session,
      session.record.protocolVersion || undefined,
      {},
      undefined,
      Date.now(),
      traceCarrier,
    );
    await chain.run(ctx);
    return ctx.instructions ?? GATEWAY_INSTRUCTIONS;
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
    return this.decideAdminInput(input, request.remoteAddress, undefined);
  }

  /**
   * An admin action's input decided and logged (no session). `parentDecisionId` links an
   * approval decision to the call it approves. `unrecorded` says why the decision log did
   * not accept it: then nothing may be done.
   */
  async decideAdminInput(
    input: PolicyInput,
    remoteAddress: string | undefined,
    parentDecisionId: string | undefined,
  ): Promise<{ decision: Decision; decisionId: string; unrecorded?: string }> {
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
        requestedBy: remoteAddress,
        ...(parentDecisionId === undefined ? {} : { parentDecisionId }),
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
  if (ctx.denial?.stepUp !== undefined) return renderOrThrow(ctx);
  // A call run as a task answers with a task: its denial can only be a JSON-RPC error.
  if (ctx.params.task !== undefined) return renderOrThrow(ctx);
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

/** tasks/result answers with the call's result: a denied one as a denied call's. */
function renderTaskResult(ctx: RequestContext): unknown {
  const { decision } = ctx;
  return decision !== undefined && !decision.allow ? deniedToolResult(ctx, decision) : ctx.result;
}

/** resources/read, prompts/get: a denial is a JSON-RPC error carrying the decision. */
function renderOrThrow(ctx: RequestContext): unknown {
  const { decision } = ctx;
  if (!decision) throw new Error(`${ctx.action} ended without a decision`);
  if (!decision.allow) {
    const stepUp = ctx.denial?.stepUp;
    if (stepUp !== undefined) {
      // Answered in HTTP (401/403 with WWW-Authenticate), so the client authenticates again.
      throw new RpcError(GATEWAY_REFUSED, denialText(decision), {
        ...denialMeta(ctx, decision),
        [HTTP_ANSWER_KEY]: { status: stepUp.status, www_authenticate: stepUp.wwwAuthenticate },
      });
    }
    throw new RpcError(POLICY_DENIED, denialText(decision), denialMeta(ctx, decision));
  }
  return ctx.result;
}
