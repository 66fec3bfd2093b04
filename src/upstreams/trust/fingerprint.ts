// Fingerprints of catalog items: what a tool, prompt, resource or resource template IS,
// as the model reads it. Each field that reaches the model gets its own hash, and the
// whole item one hash over all of them, so a changed pin can name what changed.
//
// The text hashed is RFC 8785 (JSON Canonicalization Scheme) of the item after ordering
// that carries no meaning is undone: object keys (JCS sorts them), and in JSON Schemas
// the sets written as arrays (`required`, a `type` list, `enum`, `allOf`/`anyOf`/`oneOf`),
// and a prompt's arguments. Arrays whose order means something (`prefixItems`,
// tuple `items`, examples) keep it. `$ref` is hashed as written and never followed, so a
// schema that refers to itself is just a string. `_meta` is left out: it is for clients,
// not the model, and servers put changing values there. A resource's `size` too.
//
// JSON numbers and strings are written as JavaScript's JSON.stringify writes them, which
// is the serialization RFC 8785 specifies (ECMAScript Number-to-String, minimal escapes),
// and object keys are sorted by UTF-16 code units as it requires.
import { sha256Hex } from '../../util/canonical-json.js';
import { McpgateError } from '../../util/errors.js';

/** An item cannot be fingerprinted: nested too deeply, or too large to take in. */
export class FingerprintError extends McpgateError {
  static override readonly code = 'ERR_TOOL_DEFINITION';
}

export type CatalogKind = 'tool' | 'prompt' | 'resource' | 'resource_template';

/** The fields hashed one by one, per kind; any other field (but _meta) is `other`. */
export const FINGERPRINT_FIELDS: Readonly<Record<CatalogKind, readonly string[]>> = {
  tool: ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'],
  prompt: ['name', 'title', 'description', 'arguments'],
  resource: ['uri', 'name', 'title', 'description', 'mimeType', 'annotations'],
  resource_template: ['uriTemplate', 'name', 'title', 'description', 'mimeType', 'annotations'],
};

/** Left out of every fingerprint (see the top of the file). */
const IGNORED: Readonly<Record<CatalogKind, ReadonlySet<string>>> = {
  tool: new Set(['_meta']),
  prompt: new Set(['_meta']),
  resource: new Set(['_meta', 'size']),
  resource_template: new Set(['_meta']),
};

/** The field that collects every field not named in FINGERPRINT_FIELDS. */
export const OTHER_FIELD = 'other';

export interface Fingerprint {
  /** sha256 (hex) of the canonical JSON of the whole item, as fingerprinted. */
  sha256: string;
  /** sha256 (hex) of each field present, by field name (and `other`). */
  fields: Record<string, string>;
  /** Length of the canonical JSON in UTF-16 code units: the item's size as hashed. */
  size: number;
}

export interface FingerprintLimits {
  /** Deepest nesting of objects and arrays in one item. */
  maxDepth: number;
  /** Longest canonical JSON of one item, in characters. */
  maxSize: number;
}

export const DEFAULT_FINGERPRINT_LIMITS: FingerprintLimits = {
  maxDepth: 64,
  maxSize: 256 * 1024,
};

/** Schema keywords whose value is one schema. */
const SCHEMA_VALUED = new Set([
  'additionalProperties',
  'additionalItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'propertyNames',
  'items', // an array of schemas (a draft-7 tuple) keeps its order: see normalizeSchema
]);
/** Schema keywords whose value maps names to schemas. */
const SCHEMA_MAPS = new Set([
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
]);
/** Schema keywords whose array value is a set of schemas. */
const SCHEMA_SETS = new Set(['allOf', 'anyOf', 'oneOf']);
/** Schema keywords whose array value is a set of plain values. */
const VALUE_SETS = new Set(['required', 'type', 'enum']);

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Writes canonical JSON with a depth bound and a size bound, so a hostile item fails with a
 * clear error instead of exhausting the stack or memory.
 */
class CanonicalWriter {
  private size = 0;

  constructor(
    private readonly limits: FingerprintLimits,
    private readonly what: string,
  ) {}

  /** Canonical JSON of a plain JSON value. */
  value(value: unknown, depth: number): string {
    if (value === null || typeof value !== 'object') return this.count(scalar(value));
    this.enter(depth);
    if (Array.isArray(value)) return this.array(value.map((v) => this.value(v, depth + 1)));
    return this.object(value as Record<string, unknown>, (v) => this.value(v, depth + 1));
  }

  /** Canonical JSON of a JSON Schema, with its set-valued keywords in a fixed order. */
  schema(value: unknown, depth: number): string {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return this.value(value, depth); // `true`, `false`, or not a schema: hashed as it is
    }
    this.enter(depth);
    return this.object(value as Record<string, unknown>, (v, key) => {
      if (SCHEMA_MAPS.has(key) && isPlainObject(v)) {
        this.enter(depth + 1);
        return this.object(v, (s) => this.schema(s, depth + 2));
      }
      if (SCHEMA_VALUED.has(key)) {
        if (!Array.isArray(v)) return this.schema(v, depth + 1);
        this.enter(depth + 1);
        return this.array(v.map((s) => this.schema(s, depth + 2)));
      }
      if (key === 'prefixItems' && Array.isArray(v)) {
        this.enter(depth + 1);
        return this.array(v.map((s) => this.schema(s, depth + 2)));
      }
      if (SCHEMA_SETS.has(key) && Array.isArray(v)) {
        this.enter(depth + 1);
        return this.array(v.map((s) => this.schema(s, depth + 2)).sort(compare));
      }
      if (VALUE_SETS.has(key) && Array.isArray(v)) {
        this.enter(depth + 1);
        return this.array(v.map((s) => this.value(s, depth + 2)).sort(compare));
      }
      if (key === 'dependentRequired' && isPlainObject(v)) {
        this.enter(depth + 1);
        return this.object(v, (list) => {
          if (!Array.isArray(list)) return this.value(list, depth + 2);
          this.enter(depth + 2);
          return this.array(list.map((s) => this.value(s, depth + 3)).sort(compare));
        });
      }
      return this.value(v, depth + 1);
    });
  }

  /** A prompt's arguments: a set (each argument is named). */
  promptArguments(value: unknown, depth: number): string {
    if (!Array.isArray(value)) return this.value(value, depth);
    this.enter(depth);
    const items = value.map((a) => this.value(a, depth + 1));
    return this.array(items.sort(compare));
  }

  private object(
    value: Record<string, unknown>,
    write: (v: unknown, key: string) => string,
  ): string {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort(compare);
    const members = keys.map((k) => `${this.count(JSON.stringify(k))}:${write(value[k], k)}`);
    this.count('{}');
    return `{${members.join(',')}}`;
  }

  private array(items: string[]): string {
    this.count('[]');
    return `[${items.join(',')}]`;
  }

  private enter(depth: number): void {
    if (depth >= this.limits.maxDepth) {
      throw new FingerprintError(
        `${this.what} nests objects and arrays deeper than ${this.limits.maxDepth} levels`,
      );
    }
  }

  private count(text: string): string {
    this.size += text.length + 1;
    if (this.size > this.limits.maxSize) {
      throw new FingerprintError(
        `${this.what} is larger than ${this.limits.maxSize} characters as canonical JSON`,
      );
    }
    return text;
  }
}

function scalar(value: unknown): string {
  // undefined in an array, a function or a symbol: JSON.stringify writes null (or nothing).
  return JSON.stringify(value) ?? 'null';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The canonical JSON of one field of an item of `kind`. */
function canonicalField(
  kind: CatalogKind,
  field: string,
  value: unknown,
  writer: CanonicalWriter,
): string {
  if (field === 'inputSchema' || field === 'outputSchema') return writer.schema(value, 1);
  if (kind === 'prompt' && field === 'arguments') return writer.promptArguments(value, 1);
  return writer.value(value, 1);
}

/**
 * The fingerprint of one catalog item as its server listed it (before the gateway renames
 * it). Throws FingerprintError for an item nested deeper or larger than the limits.
 */
export function fingerprint(
  kind: CatalogKind,
  item: object,
  limits: FingerprintLimits = DEFAULT_FINGERPRINT_LIMITS,
): Fingerprint {
  const { canonical, whole } = canonicalItem(kind, item, limits);
  const fields: Record<string, string> = {};
  for (const key of Object.keys(canonical)) fields[key] = sha256Hex(canonical[key] as string);
  return { sha256: sha256Hex(whole), fields, size: whole.length };
}

/**
 * The canonical JSON of each fingerprinted field of an item (keys sorted) and of the whole
 * item: its fields in key order, each already canonical, with the fields not named in
 * FINGERPRINT_FIELDS collected under `other`.
 */
export function canonicalItem(
  kind: CatalogKind,
  item: object,
  limits: FingerprintLimits = DEFAULT_FINGERPRINT_LIMITS,
): { canonical: Record<string, string>; whole: string } {
  const record = item as Record<string, unknown>;
  const label = record.name ?? record.uri ?? record.uriTemplate;
  const what = `${kind.replace('_', ' ')} ${typeof label === 'string' ? JSON.stringify(label.slice(0, 80)) : '(unnamed)'}`;
  const writer = new CanonicalWriter(limits, what);
  const named = new Set(FINGERPRINT_FIELDS[kind]);
  const ignored = IGNORED[kind];
  const canonical: Record<string, string> = {};
  const other: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (value === undefined || ignored.has(key)) continue;
    if (named.has(key)) canonical[key] = canonicalField(kind, key, value, writer);
    else other[key] = value;
  }
  if (Object.keys(other).length > 0) canonical[OTHER_FIELD] = writer.value(other, 1);
  const keys = Object.keys(canonical).sort(compare);
  const sorted: Record<string, string> = {};
  for (const key of keys) sorted[key] = canonical[key] as string;
  const whole = `{${keys.map((k) => `${JSON.stringify(k)}:${canonical[k] as string}`).join(',')}}`;
  return { canonical: sorted, whole };
}

/** The names of the fields whose hashes differ between two fingerprints, sorted. */
export function changedFields(
  before: Readonly<Record<string, string>>,
  after: Readonly<Record<string, string>>,
): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).sort(compare);
}
