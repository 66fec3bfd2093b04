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
/** Schema keywords whose value maps names (that a model reads) to schemas. */
const PROPERTY_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);
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

/** One step of a field path: `.key`, `[0]`, `["odd key"]`. */
function step(key: string | number, first: boolean): string {
  if (typeof key === 'number') return `[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return first ? key : `.${key}`;
  return `[${JSON.stringify(key)}]`;
}

/**
 * A text no detector can find anything in: shorter than any phrase, printable ASCII only (so
 * nothing hidden), and too short to name another server's tool. Most schema strings
 * ("object", "string") and property names ("id", "path") are such texts.
 */
const HARMLESS = /^[\x20-\x7E]{0,7}$/;

/** Every string of an item (values and object keys) a detector could find something in. */
export function itemTexts(item: object): ItemText[] {
  const texts: ItemText[] = [];
  // The path is kept as steps and joined only for a text that is kept.
  const steps: string[] = [];
  const field = (suffix = ''): string => {
    const joined = steps.join('') + suffix;
    return joined.length > MAX_FIELD ? `${joined.slice(0, MAX_FIELD - 1)}…` : joined;
  };
  const walk = (value: unknown, depth: number, namesProperties = false): void => {
    if (depth > 64) return; // fingerprinting refused deeper items before they get here
    if (typeof value === 'string') {
      if (!HARMLESS.test(value)) texts.push({ field: field(), text: value });
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        steps.push(step(i, false));
        walk(value[i], depth + 1);
        steps.pop();
      }
      return;
    }
    for (const key in value) {
      const v = (value as Record<string, unknown>)[key];
      if (depth === 0 && SKIPPED.has(key)) continue;
      if (depth > 0 && SCHEMA_IDS.has(key) && typeof v === 'string') continue;
      steps.push(step(key, steps.length === 0));
      // A property name is text the model reads too (it is how arguments are named).
      if (namesProperties && !HARMLESS.test(key)) texts.push({ field: field('{name}'), text: key });
      walk(v, depth + 1, PROPERTY_MAPS.has(key));
      steps.pop();
    }
  };
  walk(item, 0);
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

/** A word that cannot be an ordinary word: with `_`, `-` or `.` inside, a digit, or camelCase. */
const DISTINCTIVE =
  /[A-Za-z0-9]+(?:[_.-][A-Za-z0-9]+)+|[A-Za-z]*[0-9][A-Za-z0-9]*|[a-z]+[A-Z][A-Za-z0-9]*/g;
/** A word right before or after "tool(s)", quoted or not: "the search tool", "tool `search`". */
const BEFORE_TOOL = /\b([A-Za-z][\w-]*)[`'"]?\s+(?=tools?\b)/gi;
const AFTER_TOOL = /\btools?\s+[`'"]?([A-Za-z][\w-]*)/gi;

/**
 * Fields of prose that can steer: a description, at the top or anywhere in a schema. (A
 * title is a label: "Echo Tool" names the tool itself, not another server's echo.)
 */
const PROSE_FIELD = /(?:^|\.)description$/;

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
  const own = itemName?.toLowerCase();
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
  const report = (
    other: ToolName,
    field: string,
    text: string,
    at: number,
    length: number,
  ): void => {
    if (other.server === server || seen.has(other.id)) return;
    // A text that names its own item ("echo: echoes …") steers nothing else.
    if (own !== undefined && text.slice(at, at + length).toLowerCase() === own) return;
    seen.add(other.id);
    findings.push({
      detector: 'shadowing.mention',
      type: 'shadowing',
      severity: 'high',
      field,
      offset: at,
      excerpt: excerpt(text, at, at + length),
      message: `names ${other.server}'s tool ${other.id}: a server's text that steers another server's tools`,
    });
  };
  for (const { field, text } of texts) {
    // Prose steers a model; property names, enum values and URIs do not.
    if (!PROSE_FIELD.test(field)) continue;
    // Only two kinds of words can name a tool here: distinctive ones (read_text_file,
    // fs.read, getFile, tool2), and plain ones next to the word "tool"; each kind is found
    // by one pattern, so ordinary words cost no lookup.
    DISTINCTIVE.lastIndex = 0;
    for (let m = DISTINCTIVE.exec(text); m !== null; m = DISTINCTIVE.exec(text)) {
      if (m[0].length < 3) continue;
      for (const other of names.get(m[0].toLowerCase()) ?? []) {
        report(other, field, text, m.index, m[0].length);
      }
    }
    for (const pattern of [BEFORE_TOOL, AFTER_TOOL]) {
      pattern.lastIndex = 0;
      for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
        const word = m[1] ?? '';
        if (word.length < 3) continue;
        const at = m.index + m[0].indexOf(word);
        for (const other of names.get(word.toLowerCase()) ?? []) {
          report(other, field, text, at, word.length);
        }
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
