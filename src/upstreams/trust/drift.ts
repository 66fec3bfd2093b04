// Drift: what changed in a server's lists between two reads (connect, reconnect,
// list_changed, the periodic refresh), with a bounded diff of each changed field for the
// gateway log, so an operator sees what a rug pull changed without the log growing with it.
import { excerpt as escapedExcerpt } from '../../inspect/text/index.js';
import { canonicalItem, OTHER_FIELD, type CatalogKind } from './fingerprint.js';
import type { ItemAssessment } from './assess.js';

/** One field's change, as the log shows it: the differing part of each side, with context. */
export interface FieldDiff {
  field: string;
  before: string;
  after: string;
}

export interface ItemDrift {
  kind: CatalogKind;
  /** The item's name (or URI, or template) at its server. */
  name: string;
  change: 'added' | 'removed' | 'changed';
  /** For `changed`: the fields whose hashes differ, sorted. */
  fields: string[];
  /** For `changed`: at most MAX_FIELD_DIFFS fields, each bounded. */
  diff: FieldDiff[];
}

/** Fields shown in one item's diff, and characters of each side. */
const MAX_FIELD_DIFFS = 4;
const SIDE_CHARS = 160;
/** Items reported per read: past this, the rest are counted, not described. */
export const MAX_DRIFT_ITEMS = 50;

/** The kind and name of an assessment key (assess.ts itemKey). */
function splitKey(key: string): { kind: CatalogKind; name: string } {
  const cut = key.indexOf('\u0000');
  return { kind: key.slice(0, cut) as CatalogKind, name: key.slice(cut + 1) };
}

/**
 * Text of the two sides with their common start and end cut away, a little context kept,
 * invisible characters escaped, each side at most SIDE_CHARS characters.
 */
export function boundedDiff(before: string, after: string): { before: string; after: string } {
  let start = 0;
  const shortest = Math.min(before.length, after.length);
  while (start < shortest && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  let end = 0;
  while (
    end < shortest - start &&
    before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)
  ) {
    end++;
  }
  const side = (text: string): string => {
    const shown = escapedExcerpt(text, start, Math.min(text.length - end, start + SIDE_CHARS));
    return shown.length > SIDE_CHARS ? `${shown.slice(0, SIDE_CHARS - 1)}…` : shown;
  };
  return { before: side(before), after: side(after) };
}

/** The canonical text of one field of an item ("" when absent), for the diff. */
function fieldText(kind: CatalogKind, item: object, field: string): string {
  try {
    const { canonical } = canonicalItem(kind, item, { maxDepth: 64, maxSize: 16 * 1024 * 1024 });
    const text = canonical[field] ?? '';
    // A string field reads better without its JSON quotes and escapes.
    if (field !== OTHER_FIELD && text.startsWith('"')) return JSON.parse(text) as string;
    return text;
  } catch {
    return '';
  }
}

/**
 * What changed between two reads of one server's lists. `items` finds the item object by
 * its key in each read, for the diff.
 */
export function listDrift(
  before: ReadonlyMap<string, ItemAssessment>,
  after: ReadonlyMap<string, ItemAssessment>,
  itemBefore: (key: string) => object | undefined,
  itemAfter: (key: string) => object | undefined,
): { drift: ItemDrift[]; more: number } {
  const drift: ItemDrift[] = [];
  let more = 0;
  const push = (d: ItemDrift): void => {
    if (drift.length < MAX_DRIFT_ITEMS) drift.push(d);
    else more++;
  };
  for (const [key, now] of after) {
    const was = before.get(key);
    const { kind, name } = splitKey(key);
    if (was === undefined) {
      push({ kind, name, change: 'added', fields: [], diff: [] });
      continue;
    }
    if (was.fingerprint.sha256 === now.fingerprint.sha256) continue;
    const names = new Set([
      ...Object.keys(was.fingerprint.fields),
      ...Object.keys(now.fingerprint.fields),
    ]);
    const fields = [...names]
      .filter((f) => was.fingerprint.fields[f] !== now.fingerprint.fields[f])
      .sort();
    if (drift.length >= MAX_DRIFT_ITEMS) {
      more++;
      continue;
    }
    const old = itemBefore(key);
    const current = itemAfter(key);
    const diff: FieldDiff[] =
      old === undefined || current === undefined
        ? []
        : fields.slice(0, MAX_FIELD_DIFFS).map((field) => ({
            field,
            ...boundedDiff(fieldText(kind, old, field), fieldText(kind, current, field)),
          }));
    push({ kind, name, change: 'changed', fields, diff });
  }
  for (const key of before.keys()) {
    if (after.has(key)) continue;
    const { kind, name } = splitKey(key);
    push({ kind, name, change: 'removed', fields: [], diff: [] });
  }
  return { drift, more };
}
