// What the gateway knows about each catalog item besides the item itself, worked out once
// when a server's lists are read: its fingerprint (fingerprint.ts) and the findings of the
// poisoning scan (scan.ts). An item that cannot be fingerprinted (nested too deeply, too
// large) is left out of the catalog, with the reason.
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import {
  DEFAULT_FINGERPRINT_LIMITS,
  fingerprint,
  FingerprintError,
  type CatalogKind,
  type Fingerprint,
  type FingerprintLimits,
} from './fingerprint.js';
import { itemTexts, scanItem, type ItemFinding, type ItemText } from './scan.js';

export interface ItemAssessment {
  readonly kind: CatalogKind;
  readonly fingerprint: Fingerprint;
  /** The item's own findings (shadowing is added when the catalog is built). */
  readonly findings: readonly ItemFinding[];
  /** Its strings, kept for the shadowing check (references, not copies). */
  readonly texts: readonly ItemText[];
}

/** The key of an item of a server's lists: its kind and its name (or URI, or template). */
export function itemKey(kind: CatalogKind, name: string): string {
  return `${kind}\u0000${name}`;
}

/** Fingerprints and scans one item; throws FingerprintError for one too deep or too large. */
export function assessItem(
  kind: CatalogKind,
  item: object,
  limits: FingerprintLimits = DEFAULT_FINGERPRINT_LIMITS,
): ItemAssessment {
  const print = fingerprint(kind, item, limits);
  const texts = itemTexts(item);
  return { kind, fingerprint: print, findings: scanItem(kind, texts), texts };
}

export interface ServerLists {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  templates: ResourceTemplate[];
}

export interface AssessedLists extends ServerLists {
  /** By itemKey. */
  assessments: Map<string, ItemAssessment>;
  /** One line per item left out, naming it and why. */
  leftOut: string[];
}

/**
 * Assesses every item of one server's lists. Items that cannot be fingerprinted are left
 * out of the lists returned and named in `leftOut`.
 */
export function assessLists(
  server: string,
  lists: ServerLists,
  limits: FingerprintLimits = DEFAULT_FINGERPRINT_LIMITS,
): AssessedLists {
  const assessments = new Map<string, ItemAssessment>();
  const leftOut: string[] = [];
  const keep = <T extends object>(
    kind: CatalogKind,
    items: T[],
    nameOf: (item: T) => string,
  ): T[] =>
    items.filter((item) => {
      try {
        assessments.set(itemKey(kind, nameOf(item)), assessItem(kind, item, limits));
        return true;
      } catch (err) {
        if (!(err instanceof FingerprintError)) throw err;
        leftOut.push(`upstream ${server}: ${err.message}; it is left out of the catalog`);
        return false;
      }
    });
  return {
    tools: keep('tool', lists.tools, (t) => t.name),
    prompts: keep('prompt', lists.prompts, (p) => p.name),
    resources: keep('resource', lists.resources, (r) => r.uri),
    templates: keep('resource_template', lists.templates, (t) => t.uriTemplate),
    assessments,
    leftOut,
  };
}
