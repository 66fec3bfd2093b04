// What the admin API (GET /admin/tools) and the console's tools page share: the filter of
// their query string, checked (a bad one is refused, not guessed at), the items it selects,
// the counts, and an item as JSON. The items are the live catalog's, under the pins of the
// policy in force (policy/trust-review.ts).
import type { CatalogReviewItem } from '../policy/trust-review.js';
import type { CatalogKind } from '../upstreams/trust/fingerprint.js';

export const ITEM_KINDS: readonly CatalogKind[] = [
  'tool',
  'prompt',
  'resource',
  'resource_template',
];

export interface ToolTrustFilter {
  /** `attention`: only what needs a reviewer; `all`: everything. */
  show: 'all' | 'attention';
  kind: CatalogKind | '';
  /** An upstream's name, exactly; '' for every upstream. */
  server: string;
  /** A part of the id; '' for any. */
  q: string;
}

const PARAMETERS = ['show', 'kind', 'server', 'q'];
const MAX_TEXT = 200;

/** The filter a query string asks for, or what is wrong with it. */
export function parseToolTrustFilter(
  query: Record<string, unknown>,
): { filter: ToolTrustFilter } | { error: string } {
  for (const [name, value] of Object.entries(query)) {
    if (!PARAMETERS.includes(name)) {
      return { error: `unknown query parameter "${name}" (${PARAMETERS.join(', ')})` };
    }
    if (typeof value !== 'string') return { error: `${name} must be given once, as text` };
    if (value.length > MAX_TEXT) return { error: `${name} is longer than ${MAX_TEXT} characters` };
  }
  const text = (name: string): string => (query[name] as string | undefined) ?? '';
  const show = text('show') || 'all';
  if (show !== 'all' && show !== 'attention') return { error: 'show must be all or attention' };
  const kind = text('kind');
  if (kind !== '' && !(ITEM_KINDS as readonly string[]).includes(kind)) {
    return { error: `kind must be one of ${ITEM_KINDS.join(', ')}` };
  }
  return {
    filter: { show, kind: kind as CatalogKind | '', server: text('server'), q: text('q') },
  };
}

export function selectItems(
  items: readonly CatalogReviewItem[],
  filter: ToolTrustFilter,
): CatalogReviewItem[] {
  return items.filter(
    (item) =>
      (filter.show === 'all' || item.attention.length > 0) &&
      (filter.kind === '' || item.kind === filter.kind) &&
      (filter.server === '' || item.server === filter.server) &&
      (filter.q === '' || item.id.includes(filter.q)),
  );
}

export interface ToolTrustCounts {
  items: number;
  pinned: number;
  pending: number;
  changed: number;
  high_findings: number;
  attention: number;
}

/** The counts of the whole catalog, whatever the filter shows. */
export function countItems(items: readonly CatalogReviewItem[]): ToolTrustCounts {
  const counts = {
    items: items.length,
    pinned: 0,
    pending: 0,
    changed: 0,
    high_findings: 0,
    attention: 0,
  };
  for (const item of items) {
    counts[item.pin.state]++;
    if (item.attention.includes('high_findings')) counts.high_findings++;
    if (item.attention.length > 0) counts.attention++;
  }
  return counts;
}

/** An item as the admin API answers it. */
export function itemJson(item: CatalogReviewItem): Record<string, unknown> {
  return {
    kind: item.kind,
    id: item.id,
    server: item.server,
    name: item.name,
    description: item.description,
    definition_hash: item.sha256,
    pin: item.pin,
    findings: item.findings.map((f) => ({
      detector: f.detector,
      severity: f.severity,
      field: f.field,
      excerpt: f.excerpt,
      acknowledged: f.acknowledged,
    })),
    attention: item.attention,
    ...(item.command === undefined ? {} : { command: item.command }),
  };
}
