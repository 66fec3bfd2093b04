// The poisoning scan of catalog items, at catalog load (never per call): every string a
// model may read in an item (its description and title, every description, title, default,
// enum value and property name in its schemas, a prompt's argument descriptions) goes
// through the shared text detectors (src/inspect/text), plus a check for excessive length.
// References to another server's tools (shadowing) need the whole catalog and are found
// by shadowingFindings when the catalog is built.
import { excerpt, scanText, SEVERITIES, type Severity } from '../../inspect/text/index.js';
import type { CatalogKind } from './fingerprint.js';

export interface ItemFinding {
  /** The detector's id: `instruction.tag`, `unicode.tag`, `length.long_text`, `shadowing.mention`, … */
  readonly detector: string;
  readonly type: string;
  readonly severity: Severity;
  /** Where in the item: `description`, `inputSchema.properties.path.description`, … */
  readonly field: string;
  /** The offset in that field's text (UTF-16 code units). */
  readonly offset: number;
  /** The match with some context, invisible characters escaped, bounded (safe to log). */
  readonly excerpt: string;
  readonly message: string;
}

/** One string of an item, with where it is: what the model reads, for the shadowing check. */
export interface ItemText {
  readonly field: string;
  readonly text: string;
}

/** A text longer than this many characters is a finding (medium), and much longer, high. */
export const LONG_TEXT = 1024;
export const VERY_LONG_TEXT = 8192;
/** The most findings one item reports (the most severe first): a flood is one fact. */
export const MAX_ITEM_FINDINGS = 20;
/** Field paths are cut at this length. */
const MAX_FIELD = 120;

/** Fields that carry no text for the model (client-side metadata). */
const SKIPPED = new Set(['_meta']);
/** Schema keywords whose value names a schema dialect or id: a URL nobody reads. */
const SCHEMA_IDS = new Set(['$schema', '$id']);

const rank = (s: Severity): number => SEVERITIES.indexOf(s);

/** Most severe first, then by field and position, so the kept findings are the ones that matter. */
export function bySeverity(a: ItemFinding, b: ItemFinding): number {
  return (
    rank(b.severity) - rank(a.severity) ||
    (a.field < b.field ? -1 : a.field > b.field ? 1 : 0) ||
    a.offset - b.offset
  );
}

function path(parent: string, key: string | number): string {
  const next =
    typeof key === 'number'
      ? `${parent}[${key}]`
      : /^[A-Za-z_$][\w$-]*$/.test(key)
        ? parent === ''
          ? key
          : `${parent}.${key}`
        : `${parent}[${JSON.stringify(key)}]`;
  return next.length > MAX_FIELD ? `${next.slice(0, MAX_FIELD - 1)}…` : next;
}

/** Every string of an item (values and object keys), with its field path. */
export function itemTexts(item: object): ItemText[] {
  const texts: ItemText[] = [];
  const walk = (value: unknown, at: string, depth: number): void => {
    if (depth > 64) return; // fingerprinting refused deeper items before they get here
    if (typeof value === 'string') {
      if (value.length > 0) texts.push({ field: at, text: value });
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, path(at, i), depth + 1));
      return;
    }
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (depth === 0 && SKIPPED.has(key)) continue;
      if (depth > 0 && SCHEMA_IDS.has(key) && typeof v === 'string') continue;
      const here = path(at, key);
      // A property name is text the model reads too (it is how arguments are named).
      if (depth > 0 && key.length > 0) texts.push({ field: `${here}{name}`, text: key });
      walk(v, here, depth + 1);
    }
  };
  walk(item, '', 0);
  return texts;
}

/** The findings of one item's own text (everything but shadowing), most severe first. */
export function scanItem(_kind: CatalogKind, texts: readonly ItemText[]): ItemFinding[] {
  const findings: ItemFinding[] = [];
  for (const { field, text } of texts) {
    for (const f of scanText(text, { perDetector: 5, maxFindings: MAX_ITEM_FINDINGS })) {
      findings.push({
        detector: f.detector,
        type: f.type,
        severity: f.severity,
        field,
        offset: f.offset,
        excerpt: f.excerpt,
        message: f.message,
      });
    }
    if (text.length > LONG_TEXT) {
      findings.push({
        detector: 'length.long_text',
        type: 'length',
        severity: text.length > VERY_LONG_TEXT ? 'high' : 'medium',
        field,
        offset: 0,
        excerpt: `${excerpt(text, 0, 60)} (${text.length} characters)`,
        message: `a text of ${text.length} characters (more than ${text.length > VERY_LONG_TEXT ? VERY_LONG_TEXT : LONG_TEXT})`,
      });
    }
  }
  return findings.sort(bySeverity).slice(0, MAX_ITEM_FINDINGS);
}

/** A tool of some server, as another server's text might name it. */
export interface ToolName {
  readonly server: string;
  /** `server.name`, the id policies use. */
  readonly id: string;
  /** The tool's own name at its server. */
  readonly name: string;
  /** The name clients see (with the server's prefix). */
  readonly exposed: string;
}

const TOKEN = /[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?/g;

/**
 * A name that cannot be an ordinary word: it has `_`, `-`, `.`, a digit or an inner capital.
 * A plain word ("search", "echo") counts only where the text calls it a tool.
 */
function isDistinctive(name: string): boolean {
  return /[_.\-0-9]/.test(name) || /[a-z][A-Z]/.test(name);
}

/** Whether "tool" stands right before or after the word at text[at, at + length). */
function calledATool(text: string, at: number, length: number): boolean {
  const around = text.slice(Math.max(0, at - 12), at + length + 12).toLowerCase();
  return /\btools?\b/.test(around);
}

/**
 * Shadowing: a server's text that names another server's tool ("when the send_email tool
 * is used, also …"), the classic way one server steers how the model uses another's tools;
 * and a tool with the same name as another server's tool. `texts` are one item's strings;
 * `names` every tool of the catalog, by lower-cased name, exposed name and id.
 */
export function shadowingFindings(
  server: string,
  itemName: string | undefined,
  texts: readonly ItemText[],
  names: ReadonlyMap<string, readonly ToolName[]>,
): ItemFinding[] {
  const findings: ItemFinding[] = [];
  const seen = new Set<string>();
  if (itemName !== undefined) {
    for (const other of names.get(itemName.toLowerCase()) ?? []) {
      if (other.server === server || other.name !== itemName) continue;
      findings.push({
        detector: 'shadowing.same_name',
        type: 'shadowing',
        severity: 'medium',
        field: 'name',
        offset: 0,
        excerpt: itemName,
        message: `the same name as ${other.server}'s tool ${other.id}`,
      });
      break;
    }
  }
  for (const { field, text } of texts) {
    // Property names and schema keywords ("object", "string") steer nothing.
    if (field.endsWith('{name}') || field === 'name' || text.length < 4) continue;
    TOKEN.lastIndex = 0;
    for (let match = TOKEN.exec(text); match !== null; match = TOKEN.exec(text)) {
      const token = match[0];
      if (token.length < 3) continue;
      const owners = names.get(token.toLowerCase());
      if (owners === undefined) continue;
      for (const other of owners) {
        if (other.server === server || seen.has(other.id)) continue;
        if (!isDistinctive(token) && !calledATool(text, match.index, token.length)) continue;
        seen.add(other.id);
        findings.push({
          detector: 'shadowing.mention',
          type: 'shadowing',
          severity: 'high',
          field,
          offset: match.index,
          excerpt: excerpt(text, match.index, match.index + token.length),
          message: `names ${other.server}'s tool ${other.id}: a server's text that steers another server's tools`,
        });
      }
    }
  }
  return findings;
}

/** The index shadowingFindings looks names up in: every tool by name, exposed name and id. */
export function toolNameIndex(tools: Iterable<ToolName>): Map<string, ToolName[]> {
  const index = new Map<string, ToolName[]>();
  const add = (key: string, tool: ToolName): void => {
    const list = index.get(key.toLowerCase());
    if (list === undefined) index.set(key.toLowerCase(), [tool]);
    else if (!list.includes(tool)) list.push(tool);
  };
  for (const tool of tools) {
    add(tool.name, tool);
    add(tool.exposed, tool);
    add(tool.id, tool);
  }
  return index;
}
