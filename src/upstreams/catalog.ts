// The federated catalog: every upstream's tools, prompts, resources and templates under
// namespaced names, so two servers can never shadow each other.
//   tools and prompts:  <server>__<name>     (64 characters of [A-Za-z0-9_-] at most)
//   resources:          mcpgate://<server>/<upstream uri, verbatim>
// Built once per catalog change; list requests and call lookups only read it.
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';

export const NAME_SEPARATOR = '__';
export const RESOURCE_SCHEME = 'mcpgate://';
const MAX_EXPOSED_NAME = 64;
const VALID_EXPOSED_NAME = /^[A-Za-z0-9_-]+$/;

export interface ServerCatalog {
  server: string;
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  templates: ResourceTemplate[];
}

export interface ToolEntry {
  server: string;
  /** Name at the upstream. */
  name: string;
  /** `server.name`, the id policies use. */
  id: string;
  exposed: Tool;
  definitionHash: string;
}

export interface PromptEntry {
  server: string;
  name: string;
  id: string;
  exposed: Prompt;
}

export interface ResourceEntry {
  server: string;
  uri: string;
  /** `server:uri`, the id policies use. */
  id: string;
  exposed: Resource;
}

export interface TemplateEntry {
  server: string;
  uriTemplate: string;
  id: string;
  exposed: ResourceTemplate;
}

export function exposedName(server: string, name: string): string {
  return `${server}${NAME_SEPARATOR}${name}`;
}

/** Splits `server__name` at the first separator (server names contain no underscore). */
export function splitExposedName(exposed: string): { server: string; name: string } | undefined {
  const at = exposed.indexOf(NAME_SEPARATOR);
  if (at <= 0) return undefined;
  return { server: exposed.slice(0, at), name: exposed.slice(at + NAME_SEPARATOR.length) };
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
  server: string,
  name: string,
  problems: string[],
): string | undefined {
  const exposed = exposedName(server, name);
  if (!VALID_EXPOSED_NAME.test(exposed) || exposed.length > MAX_EXPOSED_NAME) {
    problems.push(
      `${kind} "${name}" of upstream ${server} cannot be exposed as "${exposed}": ` +
        `names must be at most ${MAX_EXPOSED_NAME} characters of A-Z a-z 0-9 _ -`,
    );
    return undefined;
  }
  return exposed;
}

export class Catalog {
  readonly tools = new Map<string, ToolEntry>();
  readonly prompts = new Map<string, PromptEntry>();
  readonly resources = new Map<string, ResourceEntry>();
  readonly templates: TemplateEntry[] = [];

  /**
   * Builds a catalog from per-server snapshots. Items that cannot be exposed (bad names,
   * collisions) are left out and described in `problems`; at start-up those are fatal.
   */
  static build(servers: ServerCatalog[]): { catalog: Catalog; problems: string[] } {
    const catalog = new Catalog();
    const problems: string[] = [];
    for (const s of servers) {
      for (const tool of s.tools) {
        const name = checkName('tool', s.server, tool.name, problems);
        if (!name) continue;
        const clash = catalog.tools.get(name);
        if (clash) {
          problems.push(
            `tool name collision: "${name}" is both ${clash.server}'s "${clash.name}" and ${s.server}'s "${tool.name}"`,
          );
          continue;
        }
        catalog.tools.set(name, {
          server: s.server,
          name: tool.name,
          id: `${s.server}.${tool.name}`,
          exposed: { ...tool, name },
          definitionHash: sha256Hex(canonicalJson(tool)),
        });
      }
      for (const prompt of s.prompts) {
        const name = checkName('prompt', s.server, prompt.name, problems);
        if (!name) continue;
        const clash = catalog.prompts.get(name);
        if (clash) {
          problems.push(
            `prompt name collision: "${name}" is both ${clash.server}'s "${clash.name}" and ${s.server}'s "${prompt.name}"`,
          );
          continue;
        }
        catalog.prompts.set(name, {
          server: s.server,
          name: prompt.name,
          id: `${s.server}.${prompt.name}`,
          exposed: { ...prompt, name },
        });
      }
      for (const resource of s.resources) {
        const uri = exposedUri(s.server, resource.uri);
        if (catalog.resources.has(uri)) continue; // an upstream listing one URI twice
        catalog.resources.set(uri, {
          server: s.server,
          uri: resource.uri,
          id: `${s.server}:${resource.uri}`,
          exposed: { ...resource, uri },
        });
      }
      for (const template of s.templates) {
        catalog.templates.push({
          server: s.server,
          uriTemplate: template.uriTemplate,
          id: `${s.server}:${template.uriTemplate}`,
          exposed: { ...template, uriTemplate: exposedUri(s.server, template.uriTemplate) },
        });
      }
    }
    return { catalog, problems };
  }
}
