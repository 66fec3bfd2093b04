// Stage: the policy input of this request, built once by the one input builder
// (policy/input.ts) from the facts gathered so far: identity, session, target, arguments.
// List requests get the catalog as facts, computed once per catalog version; session/open
// gets the upstreams' instructions the same way (which of them the session is shown is a
// visible decision, stages/show-instructions.ts). What an upstream asks of a client gets the
// upstream as the requester and the facts of its request; which upstreams' log messages a
// session receives (notifications/message) is a visible decision over one item per upstream.
// Each tool, prompt and resource carries
// its trust facts (pin state under the pins of the policy in force, scan findings), worked
// out once per item and policy (policy/trust-facts.ts).
import type { PolicyHolder } from '../../policy/holder.js';
import type {
  CatalogItemFact,
  InputTarget,
  PolicyAction,
  SamplingFacts,
  UpstreamAskAction,
} from '../../policy/input.js';
import { findingFact } from '../../inspect/finding.js';
import { buildInput } from '../../policy/input.js';
import { TrustFactCache } from '../../policy/trust-facts.js';
import type { Catalog } from '../../upstreams/catalog.js';
import { NO_PINS, type Pins } from '../../upstreams/trust/pins.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import type { Stage } from '../chain.js';
import type { ChainMethod, RequestContext, TaskMethod, UpstreamAsk } from '../context.js';

/** The gateway's name and version, as the policy sees them (request.gateway). */
export interface GatewayFacts {
  id: string;
  version: string;
}

export function buildRequestInput(
  gateway: GatewayFacts,
  registry: UpstreamRegistry,
  policy: PolicyHolder,
): Stage {
  const trustFacts = new TrustFactCache();
  const catalogFacts = new CatalogFacts(registry, trustFacts);
  return {
    name: 'build input',
    when: 'allowed',
    run(ctx: RequestContext) {
      const { action } = ctx;
      if (isTaskMethod(action)) throw new Error(`${action} is not decided; it has no policy input`);
      const facts = {
        identity: ctx.identity,
        session: ctx.session,
        protocolVersion: ctx.protocolVersion,
        gateway,
      };
      // The pins of the policy that will decide (none loaded: nothing is pinned).
      const pins = policy.current()?.pins ?? NO_PINS;
      const target = targetFacts(ctx, action, pins, trustFacts, catalogFacts, registry);
      ctx.input = buildInput(action, facts, target, ctx.now);
      if (ctx.argumentFindings.length > 0) {
        ctx.input.findings = ctx.argumentFindings.map(findingFact);
      }
      return undefined;
    },
  };
}

function isTaskMethod(method: ChainMethod): method is TaskMethod {
  return method.startsWith('tasks/');
}

function targetFacts(
  ctx: RequestContext,
  action: PolicyAction,
  pins: Pins,
  trustFacts: TrustFactCache,
  catalogFacts: CatalogFacts,
  registry: UpstreamRegistry,
): InputTarget | undefined {
  const { target } = ctx;
  if (target !== undefined) {
    switch (target.kind) {
      case 'tool': {
        const { pin, findings } = trustFacts.facts(pins, target.id, target.entry.trust);
        const facts: InputTarget = {
          tool: {
            server: target.server,
            name: target.name,
            id: target.id,
            annotations: target.entry.exposed.annotations ?? {},
            definition_hash: target.entry.definitionHash,
            pin,
            findings,
          },
          arguments: ctx.args,
        };
        const task = ctx.params.task;
        if (task !== undefined) facts.task = task.ttl === undefined ? {} : { ttl_ms: task.ttl };
        return facts;
      }
      case 'completion':
        return {
          completion: {
            ref: target.ref,
            argument: ctx.params.argument ?? { name: '', value: '' },
            context_arguments: ctx.params.context?.arguments ?? {},
          },
        };
      case 'prompt': {
        const { pin, findings } = trustFacts.facts(pins, target.id, target.entry.trust);
        return {
          prompt: { server: target.server, name: target.name, id: target.id, pin, findings },
          arguments: ctx.args,
        };
      }
      case 'resource': {
        const resource: NonNullable<InputTarget['resource']> = {
          server: target.server,
          uri: target.uri,
          id: target.id,
        };
        // A listed resource carries its trust facts; a URI made from a template has none.
        const listed = registry.catalog.resources.get(
          registry.catalog.exposeUri(target.server, target.uri),
        );
        if (listed !== undefined) {
          const { pin, findings } = trustFacts.facts(pins, listed.id, listed.trust);
          resource.pin = pin;
          resource.findings = findings;
        }
        return { resource };
      }
    }
  }
  if (ctx.ask !== undefined) return askFacts(ctx.action as UpstreamAskAction, ctx.ask);
  if (ctx.action === 'notifications/message') return { catalog: catalogFacts.logSources() };
  const catalog = registry.catalog;
  if (action === 'session/open') {
    // Without instructions there is nothing to show: the input stays as it always was.
    if (catalog.instructions.length === 0) return undefined;
  } else if (!isListAction(action)) return undefined;
  ctx.catalog = catalog;
  return { catalog: catalogFacts.get(catalog, pins, action) };
}

/** The actions whose input carries catalog facts: the lists, and session/open. */
type CatalogAction = ListAction | 'session/open';

export type ListAction =
  'tools/list' | 'resources/list' | 'resources/templates/list' | 'prompts/list';

export function isListAction(action: PolicyAction): action is ListAction {
  return (
    action === 'tools/list' ||
    action === 'resources/list' ||
    action === 'resources/templates/list' ||
    action === 'prompts/list'
  );
}

type Fields = Record<string, unknown>;

/** A string field of a request the stage before validated ("" if it is missing). */
function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The upstream as the requester, the client request it serves, and what it asks. */
function askFacts(action: UpstreamAskAction, ask: UpstreamAsk): InputTarget {
  const facts: InputTarget = {
    upstream: { server: ask.server, isolation: ask.isolation, transport: ask.transport },
  };
  const related = ask.related;
  if (related !== undefined) {
    facts.related =
      related.target === undefined
        ? { action: related.action }
        : { action: related.action, target: related.target.id };
  }
  const params = ask.params;
  switch (action) {
    case 'sampling/createMessage': {
      const sampling: SamplingFacts = {
        messages: Array.isArray(params.messages) ? params.messages : [],
        max_tokens: typeof params.maxTokens === 'number' ? params.maxTokens : 0,
        tools: Array.isArray(params.tools) ? params.tools.map((t) => text((t as Fields).name)) : [],
        include_context: typeof params.includeContext === 'string' ? params.includeContext : 'none',
      };
      if (typeof params.systemPrompt === 'string') sampling.system_prompt = params.systemPrompt;
      if (typeof params.modelPreferences === 'object' && params.modelPreferences !== null) {
        sampling.model_preferences = params.modelPreferences as Fields;
      }
      facts.sampling = sampling;
      break;
    }
    case 'elicitation/create':
      facts.elicitation =
        params.mode === 'url'
          ? { mode: 'url', message: text(params.message), url: text(params.url) }
          : {
              mode: 'form',
              message: text(params.message),
              requested_schema: (params.requestedSchema ?? {}) as Fields,
            };
      break;
    case 'roots/list':
      facts.roots =
        ask.roots.from === 'config'
          ? { from: 'config', uris: ask.roots.uris }
          : { from: 'client', uris: [] };
      break;
  }
  return facts;
}

/**
 * Catalog facts for list decisions, computed once per catalog version, pins (policy) and
 * list kind.
 */
class CatalogFacts {
  private readonly byPins = new WeakMap<
    Pins,
    WeakMap<Catalog, Map<CatalogAction, CatalogItemFact[]>>
  >();

  private logs: CatalogItemFact[] | undefined;

  constructor(
    private readonly registry: UpstreamRegistry,
    private readonly trust: TrustFactCache,
  ) {}

  /** One `log` item per configured upstream (the configuration does not change). */
  logSources(): CatalogItemFact[] {
    this.logs ??= this.registry
      .status()
      .map((u) => ({ kind: 'log' as const, id: u.name, server: u.name }));
    return this.logs;
  }

  get(catalog: Catalog, pins: Pins, action: CatalogAction): CatalogItemFact[] {
    let byCatalog = this.byPins.get(pins);
    if (!byCatalog) {
      byCatalog = new WeakMap();
      this.byPins.set(pins, byCatalog);
    }
    let byKind = byCatalog.get(catalog);
    if (!byKind) {
      byKind = new Map();
      byCatalog.set(catalog, byKind);
    }
    let facts = byKind.get(action);
    if (!facts) {
      facts = this.itemFacts(catalog, pins, action);
      byKind.set(action, facts);
    }
    return facts;
  }

  private itemFacts(catalog: Catalog, pins: Pins, action: CatalogAction): CatalogItemFact[] {
    const trusted = (fact: CatalogItemFact, entry: Parameters<TrustFactCache['facts']>[2]) => {
      const { pin, findings } = this.trust.facts(pins, fact.id, entry);
      fact.pin = pin;
      fact.findings = findings;
      return fact;
    };
    switch (action) {
      case 'session/open':
        return catalog.instructions.map((i) => ({
          kind: 'instruction',
          id: i.id,
          server: i.server,
        }));
      case 'tools/list':
        return [...catalog.tools.values()].map((t) =>
          trusted(
            {
              kind: 'tool',
              id: t.id,
              server: t.server,
              name: t.name,
              annotations: t.exposed.annotations ?? {},
            },
            t.trust,
          ),
        );
      case 'prompts/list':
        return [...catalog.prompts.values()].map((p) =>
          trusted({ kind: 'prompt', id: p.id, server: p.server, name: p.name }, p.trust),
        );
      case 'resources/list':
        return [...catalog.resources.values()].map((r) =>
          trusted(
            { kind: 'resource', id: r.id, server: r.server, uri: r.uri, name: r.exposed.name },
            r.trust,
          ),
        );
      case 'resources/templates/list':
        return catalog.templates.map((t) =>
          trusted(
            {
              kind: 'resource_template',
              id: t.id,
              server: t.server,
              uri: t.uriTemplate,
              name: t.exposed.name,
            },
            t.trust,
          ),
        );
    }
  }
}
