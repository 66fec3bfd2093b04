// The review view of tool trust: every item of a catalog with its pin state under given pins
// and its scan findings (excerpts included, each marked acknowledged when the pin of this very
// definition accepts its detector). `mcpgate tools scan` prints it for a catalog it read
// itself; the admin API (`GET /admin/tools`) and the console's tools page show it for the
// gateway's live catalog under the pins of the policy in force, with what needs attention
// and the command that reviews and pins it. Nothing here decides: the policy quarantines
// (rego/mcp/lib/trust.rego), and pinning stays a reviewed change to the signed bundle.
import type { Catalog, ItemTrust } from '../upstreams/catalog.js';
import type { CatalogKind } from '../upstreams/trust/fingerprint.js';
import { pinFacts, type PinFacts, type Pins } from '../upstreams/trust/pins.js';
import type { ItemFinding } from '../upstreams/trust/scan.js';

/** A finding as reviewed: acknowledged when the pin of this very definition accepts it. */
export type ReviewFinding = ItemFinding & { acknowledged: boolean };

export interface ReviewItem {
  kind: CatalogKind;
  id: string;
  server: string;
  sha256: string;
  pin: PinFacts;
  findings: ReviewFinding[];
}

/**
 * One item's review under `pins`. With `firstSeen` (the gateway's view), an item without a
 * pin that changed since the gateway first saw it is `changed`, as the policy is told.
 */
function reviewItem(
  id: string,
  server: string,
  trust: ItemTrust,
  pins: Pins,
  firstSeen: boolean,
): ReviewItem {
  const baseline = firstSeen ? trust.firstSeen : undefined;
  const pin = pinFacts(pins[trust.kind].get(id), trust.fingerprint, baseline);
  const accepted = new Set(pin.state === 'pinned' ? (pin.acknowledged ?? []) : []);
  return {
    kind: trust.kind,
    id,
    server,
    sha256: trust.fingerprint.sha256,
    pin,
    findings: trust.findings.map((f) => ({ ...f, acknowledged: accepted.has(f.detector) })),
  };
}

/**
 * Every item of a catalog read once (`mcpgate tools scan`), reviewed under `pins`: each is
 * compared with its pin only.
 */
export function reviewItems(catalog: Catalog, pins: Pins): ReviewItem[] {
  return catalog.items().map(({ id, server, trust }) => reviewItem(id, server, trust, pins, false));
}

/** Why an item needs a reviewer: no pin yet, a changed definition, high findings not accepted. */
export type Attention = 'pending' | 'changed' | 'high_findings';

/** How many characters of a description the review shows (the scan has the rest). */
export const DESCRIPTION_SHOWN = 500;

export interface CatalogReviewItem extends ReviewItem {
  /** The name at the upstream: a tool's or prompt's name, a resource's URI, a template. */
  name: string;
  /** The first DESCRIPTION_SHOWN characters of its description, as the server lists it. */
  description: string;
  attention: Attention[];
  /** The command that reviews and pins it, when it needs attention. */
  command: string | undefined;
}

/**
 * Every item of the live catalog under `pins`, in the order kind, id, with what needs
 * attention and the command that pins it (with `--acknowledge` when high findings are open).
 */
export function catalogReview(catalog: Catalog, pins: Pins): CatalogReviewItem[] {
  const entries: Array<{
    id: string;
    server: string;
    name: string;
    text?: string;
    trust: ItemTrust;
  }> = [
    ...[...catalog.tools.values()].map((t) => ({
      ...t,
      text: t.exposed.description,
    })),
    ...[...catalog.prompts.values()].map((p) => ({ ...p, text: p.exposed.description })),
    ...[...catalog.resources.values()].map((r) => ({
      ...r,
      name: r.uri,
      text: r.exposed.description,
    })),
    ...catalog.templates.map((t) => ({
      ...t,
      name: t.uriTemplate,
      text: t.exposed.description,
    })),
  ];
  return entries
    .map(({ id, server, name, text, trust }) => {
      const item = reviewItem(id, server, trust, pins, true);
      const attention = attentionOf(item);
      const description = text ?? '';
      return {
        ...item,
        name,
        description:
          description.length > DESCRIPTION_SHOWN
            ? `${description.slice(0, DESCRIPTION_SHOWN)}…`
            : description,
        attention,
        command:
          attention.length === 0
            ? undefined
            : `mcpgate tools pin ${shellWord(id)}${attention.includes('high_findings') ? ' --acknowledge' : ''}`,
      };
    })
    .sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || compare(a.id, b.id));
}

const KINDS: readonly CatalogKind[] = ['tool', 'prompt', 'resource', 'resource_template'];

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What needs a reviewer, as the shipped policy sees it (trust.rego). */
export function attentionOf(item: ReviewItem): Attention[] {
  const attention: Attention[] = [];
  if (item.pin.state !== 'pinned') attention.push(item.pin.state);
  if (item.findings.some((f) => f.severity === 'high' && !f.acknowledged)) {
    attention.push('high_findings');
  }
  return attention;
}

/**
 * An argument as a POSIX shell reads it: as it is when it has only safe characters, else
 * single-quoted. Ids come from upstreams (a resource URI can hold anything), and the command
 * is meant to be copied into a terminal.
 */
export function shellWord(value: string): string {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
