// The client capabilities the gateway declares to an upstream at initialize: what the
// upstream may ask of the gateway (sampling, elicitation, roots), which relays it to a
// session's client. A per-session connection declares only what that session's client
// declared; the shared connection serves every session (and reads the catalog, which
// servers shape by these capabilities), so it declares everything the gateway can relay,
// and a request for a session whose client did not declare the capability is refused then.
// Roots are declared only when the upstream's `roots` configuration gives it an answer.
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../config/load.js';

type Declared = Record<string, unknown>;

/** What the shared connection declares: all the gateway relays. */
const RELAYED: ClientCapabilities = {
  sampling: { context: {}, tools: {} },
  elicitation: { form: {}, url: {} },
};

function isObject(value: unknown): value is Declared {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The sub-capabilities of `declared` that are among `names`, each as `{}`. */
function subset(declared: Declared, names: readonly string[]): Declared {
  const out: Declared = {};
  for (const name of names) if (isObject(declared[name])) out[name] = {};
  return out;
}

/**
 * What an upstream connection declares. `client`: the capabilities the session's client
 * declared at initialize, for a per-session connection; undefined for the shared one.
 */
export function capabilitiesFor(
  config: UpstreamConfig,
  client: Declared | undefined,
): ClientCapabilities {
  const roots = config.roots;
  const answersRoots =
    roots.from === 'config'
      ? roots.uris.length > 0
      : client === undefined || isObject(client.roots);
  if (client === undefined) return answersRoots ? { ...RELAYED, roots: {} } : { ...RELAYED };
  const declared: ClientCapabilities = {};
  if (isObject(client.sampling)) declared.sampling = subset(client.sampling, ['context', 'tools']);
  if (isObject(client.elicitation)) {
    const modes = subset(client.elicitation, ['form', 'url']);
    // An empty elicitation capability means form mode (2025-06-18 clients declare it so).
    declared.elicitation = Object.keys(modes).length === 0 ? { form: {} } : modes;
  }
  if (answersRoots) declared.roots = {};
  return declared;
}
