// The federated catalog: every upstream's tools, prompts, resources and templates under
// namespaced names, so two servers can never shadow each other.
//   tools and prompts:  <prefix><name>       (prefix `<server>__` unless configured; the
//                                              whole name 64 characters of [A-Za-z0-9_-])
//   resources:          mcpgate://<server>/<upstream uri, verbatim>; an upstream whose
//                       prefix is "" keeps its URIs as they are (except those that already
//                       look like mcpgate:// ones: those stay bound to their server)
// Built once per catalog change; list requests and call lookups only read it. A call finds
// its tool or prompt by the exposed name in the maps below (never by splitting the name),
// so every prefix, the empty one too, maps back to exactly one server.
import type {
  Prompt,
  Resource,
  ResourceTemplate,
  ServerCapabilities,
  Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { assessItem, itemKey, type ItemAssessment } from './trust/assess.js';
import { FingerprintError, type CatalogKind, type Fingerprint } from './trust/fingerprint.js';
import {
  bySeverity,
  MAX_ITEM_FINDINGS,
  shadowingFindings,
  toolNameIndex,
  type ItemFinding,
} from './trust/scan.js';

export const RESOURCE_SCHEME = 'mcpgate://';
const MAX_EXPOSED_NAME = 64;
const VALID_EXPOSED_NAME = /^[A-Za-z0-9_-]+$/;

export interface ServerCatalog {
  server: string;
  /** Put in front of the server's tool and prompt names (upstreams.<name>.prefix). */
  prefix: string;
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  templates: ResourceTemplate[];
  /** The `instructions` of the server's initialize result, if it gave any. */
  instructions?: string | undefined;
  /** The capabilities of the server's initialize result (absent: none known). */
  capabilities?: ServerCapabilities | undefined;
  /**
   * Fingerprints and findings of the items, by itemKey (trust/assess.ts), worked out when
   * the lists were read; an item without one is assessed when the catalog is built.
   */
  assessments?: ReadonlyMap<string, ItemAssessment>;
}

/** What the gateway knows of an item besides the item: worked out once per catalog. */
export interface ItemTrust {
  readonly kind: CatalogKind;
  readonly fingerprint: Fingerprint;
  /** The item's findings, shadowing included, most severe first. */
  readonly findings: readonly ItemFinding[];
  /** The first definition this gateway saw under this id since it started. */
  readonly firstSeen: Fingerprint;
}

/** The key of an item's first-seen fingerprint: its kind and policy id. */
export function baselineKey(kind: CatalogKind, id: string): string {
  return `${kind}:${id}`;
}

export interface ToolEntry {
  server: string;
  /** Name at the upstream. */
  name: string;
  /** `server.name`, the id policies use. */
  id: string;
  exposed: Tool;
  /** The fingerprint's sha256 (input.tool.definition_hash). */
  definitionHash: string;
  trust: ItemTrust;
}

export interface PromptEntry {
  server: string;
  name: string;
  id: string;
  exposed: Prompt;
  trust: ItemTrust;
}

export interface ResourceEntry {
  server: string;
  uri: string;
  /** `server:uri`, the id policies use. */
  id: string;
  exposed: Resource;
  trust: ItemTrust;
}

/** A server's instructions for clients (from its initialize result). */
export interface InstructionEntry {
  server: string;
  /** The server's name: the id a policy shows or hides its instructions by. */
  id: string;
  /** How the server's tools and prompts are named (the instructions name them unprefixed). */
  prefix: string;
  text: string;
}

export interface TemplateEntry {
  server: string;
  uriTemplate: string;
  id: string;
  exposed: ResourceTemplate;
  trust: ItemTrust;
}

export function exposedUri(server: string, uri: string): string {
  return `${RESOURCE_SCHEME}${server}/${uri}`;
}

export function splitExposedUri(exposed: string): { server: string; uri: string } | undefined {
  if (!exposed.startsWith(RESOURCE_SCHEME)) return undefined;
  const rest = exposed.slice(RESOURCE_SCHEME.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { server: rest.slice(0, slash), uri: rest.slice(slash + 1) };
}

function checkName(
  kind: string,
  s: ServerCatalog,
  name: string,
  problems: string[],
): string | undefined {
  const exposed = `${s.prefix}${name}`;
  if (!VALID_EXPOSED_NAME.test(exposed) || exposed.length > MAX_EXPOSED_NAME) {
    problems.push(
      `${kind} "${name}" of upstream ${s.server} cannot be exposed as "${exposed}": ` +
        `names must be at most ${MAX_EXPOSED_NAME} characters of A-Z a-z 0-9 _ -`,
    );
    return undefined;
  }
  return exposed;
}

/** Two items under one exposed name: both named, and how to tell them apart. */
function collision(
  kind: string,
  exposed: string,
  first: { server: string; name: string },
  server: string,
  name: string,
): string {
  const fix =
    first.server === server
      ? `upstream ${server} lists it twice; the first is kept`
      : `give upstreams.${first.server}.prefix or upstreams.${server}.prefix another value`;
  return `${kind} name collision: "${exposed}" is both ${first.server}'s "${first.name}" and ${server}'s "${name}"; ${fix}`;
}

export class Catalog {
  /** Servers whose prefix is "": their names and resource addresses are shown as they are. */
  readonly unprefixed: string[] = [];
  readonly tools = new Map<string, ToolEntry>();
  readonly prompts = new Map<string, PromptEntry>();
  readonly resources = new Map<string, ResourceEntry>();
  readonly templates: TemplateEntry[] = [];
  /** Servers that gave instructions, in configuration order. */
  readonly instructions: InstructionEntry[] = [];
  /** Each server's capabilities, as its last catalog read found them. */
  readonly capabilities = new Map<string, ServerCapabilities>();
  /** Resource templates by the template a client sees (`exposed.uriTemplate`). */
  readonly templatesByExposed = new Map<string, TemplateEntry>();

  /** True when some server declares `has` of its capabilities. */
  someServer(has: (capabilities: ServerCapabilities) => unknown): boolean {
    for (const capabilities of this.capabilities.values()) if (has(capabilities)) return true;
    return false;
  }

  /**
   * Builds a catalog from per-server snapshots. Items that cannot be exposed (bad names,
   * collisions) are left out and described in `problems`; at start-up those are fatal.
   */
  static build(
    servers: ServerCatalog[],
    baselines: ReadonlyMap<string, Fingerprint> = new Map(),
  ): { catalog: Catalog; problems: string[] } {
    const catalog = new Catalog();
    const problems: string[] = [];
    /** The item's assessment from the lists, or worked out now; undefined when left out. */
    const assess = (
      s: ServerCatalog,
      kind: CatalogKind,
      name: string,
      item: object,
    ): ItemAssessment | undefined => {
      const known = s.assessments?.get(itemKey(kind, name));
      if (known !== undefined) return known;
      try {
        return assessItem(kind, item);
      } catch (err) {
        if (!(err instanceof FingerprintError)) throw err;
        problems.push(`upstream ${s.server}: ${err.message}; it is left out of the catalog`);
        return undefined;
      }
    };
    const assessed = new Map<object, ItemAssessment>();
    const trustOf = (kind: CatalogKind, id: string, a: ItemAssessment): ItemTrust => ({
      kind,
      fingerprint: a.fingerprint,
      findings: a.findings,
      firstSeen: baselines.get(baselineKey(kind, id)) ?? a.fingerprint,
    });
    for (const s of servers) if (s.prefix === '') catalog.unprefixed.push(s.server);
    for (const s of servers) {
      for (const tool of s.tools) {
        const name = checkName('tool', s, tool.name, problems);
        if (!name) continue;
        const clash = catalog.tools.get(name);
        if (clash) {
          problems.push(collision('tool', name, clash, s.server, tool.name));
          continue;
        }
        const a = assess(s, 'tool', tool.name, tool);
        if (!a) continue;
        const id = `${s.server}.${tool.name}`;
        const entry: ToolEntry = {
          server: s.server,
          name: tool.name,
          id,
          exposed: { ...tool, name },
          definitionHash: a.fingerprint.sha256,
          trust: trustOf('tool', id, a),
        };
        catalog.tools.set(name, entry);
        assessed.set(entry, a);
      }
      for (const prompt of s.prompts) {
        const name = checkName('prompt', s, prompt.name, problems);
        if (!name) continue;
        const clash = catalog.prompts.get(name);
        if (clash) {
          problems.push(collision('prompt', name, clash, s.server, prompt.name));
          continue;
        }
        const a = assess(s, 'prompt', prompt.name, prompt);
        if (!a) continue;
        const id = `${s.server}.${prompt.name}`;
        const entry: PromptEntry = {
          server: s.server,
          name: prompt.name,
          id,
          exposed: { ...prompt, name },
          trust: trustOf('prompt', id, a),
        };
        catalog.prompts.set(name, entry);
        assessed.set(entry, a);
      }
      for (const resource of s.resources) {
        const uri = catalog.exposeUri(s.server, resource.uri);
        const clash = catalog.resources.get(uri);
        if (clash) {
          // An upstream listing one URI twice keeps the first; two unprefixed upstreams
          // listing one URI cannot be told apart.
          if (clash.server !== s.server) {
            problems.push(
              `resource address collision: "${uri}" is listed by ${clash.server} and by ${s.server}, ` +
                `both without a prefix; give upstreams.${clash.server}.prefix or upstreams.${s.server}.prefix a value`,
            );
          }
          continue;
        }
        const a = assess(s, 'resource', resource.uri, resource);
        if (!a) continue;
        const id = `${s.server}:${resource.uri}`;
        const entry: ResourceEntry = {
          server: s.server,
          uri: resource.uri,
          id,
          exposed: { ...resource, uri },
          trust: trustOf('resource', id, a),
        };
        catalog.resources.set(uri, entry);
        assessed.set(entry, a);
      }
      for (const template of s.templates) {
        const a = assess(s, 'resource_template', template.uriTemplate, template);
        if (!a) continue;
        const id = `${s.server}:${template.uriTemplate}`;
        const entry: TemplateEntry = {
          server: s.server,
          uriTemplate: template.uriTemplate,
          id,
          exposed: { ...template, uriTemplate: catalog.exposeUri(s.server, template.uriTemplate) },
          trust: trustOf('resource_template', id, a),
        };
        catalog.templates.push(entry);
        assessed.set(entry, a);
        if (!catalog.templatesByExposed.has(entry.exposed.uriTemplate)) {
          catalog.templatesByExposed.set(entry.exposed.uriTemplate, entry);
        }
      }
      if (s.capabilities) catalog.capabilities.set(s.server, s.capabilities);
      const text = s.instructions?.trim();
      if (text) {
        catalog.instructions.push({ server: s.server, id: s.server, prefix: s.prefix, text });
      }
    }
    catalog.addShadowing(assessed);
    return { catalog, problems };
  }

  /** Every item's shadowing findings, which need the whole catalog's tool names. */
  private addShadowing(assessed: ReadonlyMap<object, ItemAssessment>): void {
    // With the tools of one server only, there is no other server's tool to shadow.
    if (new Set([...this.tools.values()].map((t) => t.server)).size < 2) return;
    const names = toolNameIndex(
      [...this.tools.values()].map((t) => ({
        server: t.server,
        id: t.id,
        name: t.name,
        exposed: t.exposed.name,
      })),
    );
    const entries: Array<{ server: string; name?: string; trust: ItemTrust }> = [
      ...this.tools.values(),
      ...this.prompts.values(),
      ...this.resources.values(),
      ...this.templates,
    ];
    for (const entry of entries) {
      const a = assessed.get(entry);
      if (a === undefined) continue;
      const toolName = entry.trust.kind === 'tool' ? entry.name : undefined;
      const shadowing = shadowingFindings(entry.server, toolName, a.texts, names);
      if (shadowing.length === 0) continue;
      const findings = [...a.findings, ...shadowing].sort(bySeverity).slice(0, MAX_ITEM_FINDINGS);
      (entry as { trust: ItemTrust }).trust = { ...entry.trust, findings };
    }
  }

  /** Every item's trust, with its policy id, for reports and pins. */
  items(): Array<{ id: string; server: string; trust: ItemTrust }> {
    return [
      ...this.tools.values(),
      ...this.prompts.values(),
      ...this.resources.values(),
      ...this.templates,
    ].map((e) => ({ id: e.id, server: e.server, trust: e.trust }));
  }

  /**
   * The address a client is shown for an upstream's resource URI: mcpgate://<server>/<uri>,
   * or the URI itself for an unprefixed server. A URI that already starts with mcpgate://
   * is always wrapped, so an upstream cannot hand out an address of another server.
   */
  exposeUri(server: string, uri: string): string {
    if (this.unprefixed.includes(server) && !uri.startsWith(RESOURCE_SCHEME)) return uri;
    return exposedUri(server, uri);
  }

  /**
   * The server and upstream URI a client's address stands for. An address that is not
   * mcpgate:// belongs to the unprefixed server that lists it, else to the only unprefixed
   * server (a resource it does not list, such as one of its templates); with several, it
   * is ambiguous and `ambiguous` names them.
   */
  resolveUri(
    address: string,
  ): { server: string; uri: string } | { ambiguous: readonly string[] } | undefined {
    if (address.startsWith(RESOURCE_SCHEME)) return splitExposedUri(address);
    const listed = this.resources.get(address);
    if (listed) return { server: listed.server, uri: listed.uri };
    if (this.unprefixed.length === 1) return { server: this.unprefixed[0] as string, uri: address };
    if (this.unprefixed.length > 1) return { ambiguous: this.unprefixed };
    return undefined;
  }
}
