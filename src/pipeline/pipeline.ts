// The request path for every MCP method the gateway decides. Each public method reads top
// to bottom: resolve the target -> build the input -> decide (one policy evaluation) ->
// carry out the decision -> forward to the upstream -> record.
import {
  type CallToolRequest,
  type CallToolResult,
  type GetPromptRequest,
  type GetPromptResult,
  type Prompt,
  type ReadResourceRequest,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
  type ServerNotification,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { deny, parseDecision, parseVisible, type Decision } from '../policy/decision.js';
import type { DecisionLog } from '../audit/decision-log.js';
import { DECISION_ENTRYPOINT, PolicyEvalError, VISIBLE_ENTRYPOINT } from '../policy/engine.js';
import type { PolicyHolder } from '../policy/holder.js';
import type { Catalog } from '../upstreams/catalog.js';
import { splitExposedUri } from '../upstreams/catalog.js';
import { UpstreamUnavailableError, type CallOptions } from '../upstreams/connection.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import type { Logger } from '../util/logger.js';
import type { Identity } from '../identity/identity.js';
import {
  baseInput,
  policyInputJson,
  type CatalogItemFact,
  type PolicyInput,
  type RequestFacts,
} from '../policy/input.js';
import {
  enforceSupportedObligations,
  parseCredentialObligation,
  parseRateLimit,
} from '../policy/obligations.js';
import {
  CredentialError,
  type Credential,
  type CredentialBroker,
  type CredentialFacts,
} from '../credentials/broker.js';
import type { CredentialConfig } from '../config/credentials.js';
import { ARGS_DIGEST_HEX, type HistoryEntry } from '../sessions/session.js';
import {
  StoreUnavailableError,
  type RateLimitRule,
  type RecordOptions,
  type SessionRecord,
  type SessionStore,
} from '../sessions/store.js';
import type { SessionsConfig } from '../config/sessions.js';
import type { Cancellation } from '../util/cancellation.js';
import { rateRules } from '../sessions/rate-rules.js';
import { INTERNAL_ERROR, INVALID_PARAMS, POLICY_DENIED, RpcError } from '../mcp/jsonrpc/errors.js';

/** What a step may use of the MCP request it serves: its cancellation, and notifications about it. */
export interface Extra {
  readonly cancellation: Cancellation;
  /** Sends a notification (progress) on the request's own stream. */
  sendNotification(notification: ServerNotification): Promise<void>;
}

export interface CallContext extends RequestFacts {
  requestId: string | number;
  remoteAddress: string | undefined;
  /** The caller's token, for credential exchange only (never logged or stored). */
  subjectToken?: string;
  /** Set when a decision carries terminate_session: the session ends after this response. */
  terminateRequested: boolean;
}

interface Decided {
  decision: Decision;
  decisionId: string;
  /** The credential an allowed call runs with (tools/call only). */
  credential?: Credential;
  /** Entra interaction_required: the claims challenge the client must satisfy. */
  claimsChallenge?: string;
}

interface Evaluated {
  decision: Decision;
  inputJson: string;
  revision: string;
  evalNs: number;
  engine: ReturnType<PolicyHolder['current']>;
}

type ListKind = 'tools/list' | 'resources/list' | 'resources/templates/list' | 'prompts/list';

export class Pipeline {
  /** Catalog facts for list decisions, computed once per catalog version. */
  private readonly catalogFacts = new WeakMap<Catalog, Map<ListKind, CatalogItemFact[]>>();

  constructor(
    private readonly policy: PolicyHolder,
    private readonly registry: UpstreamRegistry,
    private readonly store: SessionStore,
    private readonly sessions: Pick<
      SessionsConfig,
      'historyLimit' | 'summaryLimit' | 'idleTimeoutMs' | 'rateLimits'
    >,
    private readonly decisionLog: DecisionLog,
    private readonly logger: Logger,
    private readonly gateway: { id: string; version: string },
    private readonly broker: CredentialBroker,
  ) {}

  // ---- session/open: may this user have a session of this purpose, and for how long ----

  /**
   * Decides session/open and, when allowed, creates the session in the store with the TTL
   * the policy gave (obligation session_ttl_s). `ctx.session` holds the new, empty session.
   */
  async openSession(ctx: CallContext): Promise<Decided> {
    const evaluated = this.evaluate(baseInput('session/open', ctx));
    let { decision } = evaluated;
    if (decision.allow) {
      const record: SessionRecord = ctx.session.record;
      if (decision.obligations.session_ttl_s !== null) {
        record.expiresAt = record.createdAt + decision.obligations.session_ttl_s * 1000;
      }
      try {
        await this.store.create(record, this.sessions.idleTimeoutMs);
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        decision = deny(`${err.message}; the session was not opened (fail closed)`);
        this.log(ctx, evaluated, decision);
        // Not a policy denial: the HTTP layer answers 503 so the client retries.
        throw err;
      }
    }
    return { decision, decisionId: this.log(ctx, evaluated, decision) };
  }

  // ---- admin API: the policy decides who may list, show and kill sessions ---------------

  decideAdmin(request: {
    identity: Identity;
    operation: 'list' | 'show' | 'kill';
    sessionId: string | undefined;
    remoteAddress: string | undefined;
  }): Decided {
    const now = Date.now();
    const input: PolicyInput = {
      action: `admin/sessions/${request.operation}`,
      identity: request.identity,
      admin: request.sessionId === undefined ? {} : { session_id: request.sessionId },
      findings: [],
      request: {
        time_ns: now * 1_000_000,
        time: new Date(now).toISOString(),
        gateway: this.gateway,
      },
    };
    const evaluated = this.evaluate(input);
    // Admin decisions carry no session; the log names none.
    const decisionId = this.decisionLog.write(
      {
        path: DECISION_ENTRYPOINT,
        inputJson: evaluated.inputJson,
        result: evaluated.decision,
        revision: evaluated.revision,
        evalNs: evaluated.evalNs,
        reqId: undefined,
        sessionId: undefined,
        requestedBy: request.remoteAddress,
      },
      evaluated.engine,
    );
    return { decision: evaluated.decision, decisionId };
  }

  // ---- tools/call ---------------------------------------------------------------------

  async callTool(
    ctx: CallContext,
    params: CallToolRequest['params'],
    extra: Extra,
  ): Promise<CallToolResult> {
    const entry = this.registry.catalog.tools.get(params.name);
    if (!entry) {
      throw new RpcError(
        INVALID_PARAMS,
        `unknown tool "${params.name}"; call tools/list to see the tools this session may use`,
      );
    }
    const args = params.arguments ?? {};
    const input = baseInput('tools/call', ctx);
    input.tool = {
      server: entry.server,
      name: entry.name,
      id: entry.id,
      annotations: entry.exposed.annotations ?? {},
      definition_hash: entry.definitionHash,
    };
    input.arguments = args;

    const upstream = this.registry.configFor(entry.server);
    const { decision, decisionId, credential, claimsChallenge } = await this.decide(
      ctx,
      input,
      entry.id,
      args,
      (allowed) => this.credentialFor(ctx, entry.server, upstream?.credential, allowed),
    );
    if (!decision.allow) {
      const meta: Record<string, unknown> = { decision_id: decisionId, reasons: decision.reasons };
      if (claimsChallenge !== undefined) meta.claims_challenge = claimsChallenge;
      return {
        content: [{ type: 'text', text: denialText(decision) }],
        isError: true,
        _meta: { 'mcpgate/decision': meta },
      };
    }

    // The call (and the connection, if it is the session's first) carries this call's own credential.
    const headers = credential?.headers ?? {};
    const forward = forwarding(params._meta?.progressToken, extra, headers);
    try {
      const connection = await this.registry.connectionFor(
        entry.server,
        ctx.session.record.id,
        headers,
      );
      const result = await connection.callTool(
        { name: entry.name, arguments: args },
        forward.options,
      );
      await forward.flushed();
      return result;
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) {
        return { content: [{ type: 'text', text: err.message }], isError: true };
      }
      throw err;
    }
  }

  // ---- resources/read -------------------------------------------------------------------

  async readResource(
    ctx: CallContext,
    params: ReadResourceRequest['params'],
    extra: Extra,
  ): Promise<ReadResourceResult> {
    const target = splitExposedUri(params.uri);
    if (!target || !this.isServer(target.server)) {
      throw new RpcError(
        INVALID_PARAMS,
        `unknown resource "${params.uri}"; call resources/list to see the resources this session may read`,
      );
    }
    const id = `${target.server}:${target.uri}`;
    const input = baseInput('resources/read', ctx);
    input.resource = { server: target.server, uri: target.uri, id };

    const upstream = this.registry.configFor(target.server);
    const { decision, decisionId, credential, claimsChallenge } = await this.decide(
      ctx,
      input,
      id,
      {},
      (allowed) => this.credentialFor(ctx, target.server, upstream?.credential, allowed),
    );
    if (!decision.allow) throw denialError(decision, decisionId, claimsChallenge);

    const headers = credential?.headers ?? {};
    const connection = await this.upstreamOrError(target.server, ctx, headers);
    const result = await connection.readResource(
      { uri: target.uri },
      forwarding(undefined, extra, headers).options,
    );
    // Contents carry the upstream's URIs; show them under the namespaced form.
    return {
      ...result,
      contents: result.contents.map((c) => ({ ...c, uri: `mcpgate://${target.server}/${c.uri}` })),
    };
  }

  // ---- prompts/get ------------------------------------------------------------------------

  async getPrompt(
    ctx: CallContext,
    params: GetPromptRequest['params'],
    extra: Extra,
  ): Promise<GetPromptResult> {
    const entry = this.registry.catalog.prompts.get(params.name);
    if (!entry) {
      throw new RpcError(
        INVALID_PARAMS,
        `unknown prompt "${params.name}"; call prompts/list to see the prompts this session may use`,
      );
    }
    const args = params.arguments ?? {};
    const input = baseInput('prompts/get', ctx);
    input.prompt = { server: entry.server, name: entry.name, id: entry.id };
    input.arguments = args;

    const upstream = this.registry.configFor(entry.server);
    const { decision, decisionId, credential, claimsChallenge } = await this.decide(
      ctx,
      input,
      entry.id,
      args,
      (allowed) => this.credentialFor(ctx, entry.server, upstream?.credential, allowed),
    );
    if (!decision.allow) throw denialError(decision, decisionId, claimsChallenge);

    const headers = credential?.headers ?? {};
    const forward = forwarding(params._meta?.progressToken, extra, headers);
    const connection = await this.upstreamOrError(entry.server, ctx, headers);
    const result = await connection.getPrompt(
      { name: entry.name, arguments: args },
      forward.options,
    );
    await forward.flushed();
    return result;
  }

  // ---- lists: one policy evaluation decides what the whole list shows ---------------------

  listTools(ctx: CallContext): Tool[] {
    const catalog = this.registry.catalog;
    const visible = this.visible(ctx, 'tools/list', catalog);
    return [...catalog.tools.values()].filter((t) => visible.has(t.id)).map((t) => t.exposed);
  }

  listPrompts(ctx: CallContext): Prompt[] {
    const catalog = this.registry.catalog;
    const visible = this.visible(ctx, 'prompts/list', catalog);
    return [...catalog.prompts.values()].filter((p) => visible.has(p.id)).map((p) => p.exposed);
  }

  listResources(ctx: CallContext): Resource[] {
    const catalog = this.registry.catalog;
    const visible = this.visible(ctx, 'resources/list', catalog);
    return [...catalog.resources.values()].filter((r) => visible.has(r.id)).map((r) => r.exposed);
  }

  listResourceTemplates(ctx: CallContext): ResourceTemplate[] {
    const catalog = this.registry.catalog;
    const visible = this.visible(ctx, 'resources/templates/list', catalog);
    return catalog.templates.filter((t) => visible.has(t.id)).map((t) => t.exposed);
  }

  // ---- stages -------------------------------------------------------------------------------

  /** One evaluation of mcp/authz/decision; every failure is a deny with its reason. */
  private evaluate(input: PolicyInput): Evaluated {
    const engine = this.policy.current();
    const inputJson = policyInputJson(input, engine?.omitsHistory === true);
    let decision: Decision;
    let evalNs = 0;
    if (!engine) {
      decision = deny('no policy is loaded, so every request is denied (see the gateway log)');
    } else {
      const started = process.hrtime.bigint();
      try {
        decision = parseDecision(engine.evaluate(DECISION_ENTRYPOINT, inputJson));
      } catch (err) {
        if (!(err instanceof PolicyEvalError)) throw err;
        this.logger.error('policy evaluation failed', {
          error: err.message,
          revision: engine.revision,
        });
        decision = deny(`${err.message}; denied`);
      }
      evalNs = Number(process.hrtime.bigint() - started);
    }
    return {
      decision: enforceSupportedObligations(decision),
      inputJson,
      revision: engine?.revision ?? '',
      evalNs,
      engine,
    };
  }

  /**
   * The decision for one call, carried out in the store: the call is recorded in the
   * session's history and counters, and an allowed call is counted against its rate
   * limits in the same atomic step (one store round trip). A full limit or an unreachable
   * store turns the allow into a deny; the decision log gets the final decision.
   */
  private async decide(
    ctx: CallContext,
    input: PolicyInput,
    target: string,
    args: Record<string, unknown>,
    credentialFor?: (decision: Decision) => Promise<Credential>,
  ): Promise<Decided> {
    const evaluated = this.evaluate(input);
    let decision = evaluated.decision;
    let credential: Credential | undefined;
    let claimsChallenge: string | undefined;
    // An allowed call gets its credential before it is recorded: no credential, no call.
    if (decision.allow && credentialFor) {
      try {
        credential = await credentialFor(decision);
      } catch (err) {
        if (!(err instanceof CredentialError)) throw err;
        decision = { ...deny(`${err.message}; denied`), obligations: decision.obligations };
        claimsChallenge = err.claimsChallenge;
      }
    }
    const entry: HistoryEntry = {
      action: input.action,
      target,
      args_digest: sha256Hex(canonicalJson(args)).slice(0, ARGS_DIGEST_HEX),
      allowed: decision.allow,
      at_ns: input.request.time_ns,
    };
    try {
      const rateRules = decision.allow
        ? this.rateRules(ctx, input.action === 'tools/call' ? target : undefined, decision)
        : [];
      const outcome = await this.store.recordCall(
        ctx.session.record.id,
        entry,
        this.recordOptions(rateRules),
      );
      if (outcome.kind === 'rate_limited') {
        const retryS = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
        decision = {
          ...deny(
            `rate limit "${outcome.rule}" reached (${outcome.limit} calls per ${outcome.windowMs / 1000} s); retry after ${retryS} s`,
          ),
          obligations: decision.obligations,
        };
        await this.store.recordCall(
          ctx.session.record.id,
          { ...entry, allowed: false },
          this.recordOptions([]),
        );
      } else if (outcome.kind === 'gone') {
        decision = deny(
          'this session has ended (expired or terminated); re-authenticate and initialize a new session',
        );
      }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      decision = deny(`${err.message}; denied (fail closed)`);
    }
    if (decision.obligations.terminate_session) ctx.terminateRequested = true;
    const decided: Decided = {
      decision,
      decisionId: this.log(
        ctx,
        evaluated,
        decision,
        decision.allow ? credential?.facts : undefined,
      ),
    };
    if (decision.allow && credential) decided.credential = credential;
    if (claimsChallenge !== undefined) decided.claimsChallenge = claimsChallenge;
    return decided;
  }

  /** How the store records a call (a literal: an object spread per call cost measurable CPU). */
  private recordOptions(rateRules: RateLimitRule[]): RecordOptions {
    return {
      historyLimit: this.sessions.historyLimit,
      summaryLimit: this.sessions.summaryLimit,
      idleMs: this.sessions.idleTimeoutMs,
      rateRules,
    };
  }

  /** The credential for one allowed call, scoped as the policy's credential obligation says. */
  private async credentialFor(
    ctx: CallContext,
    server: string,
    config: CredentialConfig | undefined,
    decision: Decision,
  ): Promise<Credential> {
    const obligation =
      decision.obligations.credential === null
        ? undefined
        : parseCredentialObligation(decision.obligations.credential);
    if (typeof obligation === 'string') throw new CredentialError(obligation);
    const upstream = this.registry.configFor(server);
    if (
      config?.type === 'static-secret' &&
      upstream?.transport === 'stdio' &&
      obligation === undefined
    ) {
      // The child got the secret in its environment when it started: nothing to add per call.
      return { headers: {}, facts: { kind: 'static-secret' } };
    }
    if (!config || config.type === 'none') {
      if (obligation !== undefined) {
        throw new CredentialError(
          `the policy requires a scoped credential, but upstream ${server} has no credential configured`,
        );
      }
      return { headers: {}, facts: { kind: 'none' } };
    }
    return this.broker.forCall(
      server,
      config,
      {
        sessionId: ctx.session.record.id,
        subjectToken: ctx.subjectToken ?? '',
        subject: ctx.identity.subject,
        clientId: ctx.identity.client_id,
        tokenType: ctx.identity.token_type,
      },
      obligation,
    );
  }

  /** Config limits plus the policy's rate_limit obligation, as store rules for this call. */
  private rateRules(
    ctx: CallContext,
    toolId: string | undefined,
    decision: Decision,
  ): RateLimitRule[] {
    const parsed =
      decision.obligations.rate_limit === null
        ? undefined
        : parseRateLimit(decision.obligations.rate_limit);
    return rateRules(
      this.sessions.rateLimits,
      ctx.session.record,
      toolId,
      typeof parsed === 'object' ? parsed : undefined,
    );
  }

  private log(
    ctx: CallContext,
    evaluated: Evaluated,
    decision: Decision,
    credential?: CredentialFacts,
  ): string {
    return this.decisionLog.write(
      {
        credential,
        path: DECISION_ENTRYPOINT,
        inputJson: evaluated.inputJson,
        result: decision,
        revision: evaluated.revision,
        evalNs: evaluated.evalNs,
        reqId: ctx.requestId,
        sessionId: ctx.session.record.id,
        requestedBy: ctx.remoteAddress,
      },
      evaluated.engine,
    );
  }

  /** One evaluation of mcp/authz/visible for a list; failures show nothing. */
  private visible(ctx: CallContext, action: ListKind, catalog: Catalog): Set<string> {
    const input = baseInput(action, ctx);
    input.catalog = this.factsFor(catalog, action);
    const engine = this.policy.current();
    const inputJson = policyInputJson(input, engine?.omitsHistory === true);
    let ids = new Set<string>();
    let error: string | undefined;
    let evalNs = 0;
    if (!engine) {
      error = 'no policy is loaded';
    } else {
      const started = process.hrtime.bigint();
      try {
        ({ ids, error } = parseVisible(engine.evaluate(VISIBLE_ENTRYPOINT, inputJson)));
      } catch (err) {
        if (!(err instanceof PolicyEvalError)) throw err;
        error = err.message;
      }
      evalNs = Number(process.hrtime.bigint() - started);
    }
    if (error) this.logger.error('list decision failed; showing nothing', { action, error });
    this.decisionLog.write(
      {
        path: VISIBLE_ENTRYPOINT,
        inputJson,
        result: error ? { visible: [], error } : [...ids].sort(),
        revision: engine?.revision ?? '',
        evalNs,
        reqId: ctx.requestId,
        sessionId: ctx.session.record.id,
        requestedBy: ctx.remoteAddress,
      },
      engine,
    );
    return ids;
  }

  private factsFor(catalog: Catalog, action: ListKind): CatalogItemFact[] {
    let byKind = this.catalogFacts.get(catalog);
    if (!byKind) {
      byKind = new Map();
      this.catalogFacts.set(catalog, byKind);
    }
    let facts = byKind.get(action);
    if (!facts) {
      facts = buildCatalogFacts(catalog, action);
      byKind.set(action, facts);
    }
    return facts;
  }

  private isServer(server: string): boolean {
    return this.registry.status().some((s) => s.name === server);
  }

  private async upstreamOrError(server: string, ctx: CallContext, headers: Record<string, string>) {
    try {
      return await this.registry.connectionFor(server, ctx.session.record.id, headers);
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) throw new RpcError(INTERNAL_ERROR, err.message);
      throw err;
    }
  }
}

function buildCatalogFacts(catalog: Catalog, action: ListKind): CatalogItemFact[] {
  switch (action) {
    case 'tools/list':
      return [...catalog.tools.values()].map((t) => ({
        kind: 'tool',
        id: t.id,
        server: t.server,
        name: t.name,
        annotations: t.exposed.annotations ?? {},
      }));
    case 'prompts/list':
      return [...catalog.prompts.values()].map((p) => ({
        kind: 'prompt',
        id: p.id,
        server: p.server,
        name: p.name,
      }));
    case 'resources/list':
      return [...catalog.resources.values()].map((r) => ({
        kind: 'resource',
        id: r.id,
        server: r.server,
        uri: r.uri,
        name: r.exposed.name,
      }));
    case 'resources/templates/list':
      return catalog.templates.map((t) => ({
        kind: 'resource_template',
        id: t.id,
        server: t.server,
        uri: t.uriTemplate,
        name: t.exposed.name,
      }));
  }
}

function denialText(decision: Decision): string {
  return `Denied by policy: ${decision.reasons.join('; ')}`;
}

function denialError(decision: Decision, decisionId: string, claimsChallenge?: string): RpcError {
  return new RpcError(POLICY_DENIED, denialText(decision), {
    decision_id: decisionId,
    reasons: decision.reasons,
    ...(claimsChallenge === undefined ? {} : { claims_challenge: claimsChallenge }),
  });
}

/**
 * Cancellation, progress and the call's credential travel with the call; progress goes back
 * under the client's own token. `flushed` resolves once every relayed notification is
 * written, so the last progress update never arrives after the result.
 */
function forwarding(
  progressToken: string | number | undefined,
  extra: Extra,
  headers: Record<string, string>,
): { options: CallOptions; flushed: () => Promise<unknown> } {
  const options: CallOptions = { cancellation: extra.cancellation, headers };
  if (progressToken === undefined) return { options, flushed: nothingPending };
  const pending: Array<Promise<void>> = [];
  options.onprogress = (progress) => {
    pending.push(
      extra
        .sendNotification({
          method: 'notifications/progress',
          params: { ...progress, progressToken },
        })
        .catch(() => undefined),
    );
  };
  return { options, flushed: () => Promise.all(pending) };
}

function nothingPending(): Promise<void> {
  return Promise.resolve();
}
