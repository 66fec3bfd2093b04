// Decision-log masking as OPA's decision_logs plugin does it, driven by the policy itself:
//   data.system.log.drop  true           -> the event is not logged
//   data.system.log.mask  set of rules   -> parts of the event are erased or replaced
// Both get the whole event as input. A mask rule is either a path string, which erases
// (op "remove"), or {"op": "remove" | "upsert", "path": ..., "value": ...}.
//
// Semantics kept from OPA (v1/plugins/logs/mask.go):
// - A path starts with "/" and its first segment is input, result or nd_builtin_cache
//   (mcpgate events have no nd_builtin_cache; such rules are valid and do nothing). Any
//   invalid rule (bad path, unknown op, missing op, not a string or object) makes the
//   whole rule set invalid.
// - Rules apply in the order of the Rego set: OPA's value order (strings before objects,
//   strings by bytes, objects by sorted key/value pairs). The wasm evaluator returns sets
//   in hash order, so they are sorted here.
// - "remove" of a path that does not exist, or that crosses a non-container, is skipped
//   silently and not listed. Removing an array element splices it out.
// - "upsert" creates missing intermediate objects; it is skipped when the part (input or
//   result) is not an object, when it meets a non-container, or when an array index on
//   the way is out of range.
// - Removed paths (string rules and op "remove") are listed in the event's `erased`,
//   upserted ones in `masked`, in the order applied. "/input" or "/result" alone removes
//   (the field is left out) or replaces the whole part.
// Deliberate differences: OPA URL-escapes each segment before the lookup, so a key that
// needs escaping (a space, "%") can never match there; here segments match keys
// literally. OPA cannot remove an element of a top-level array (e.g. "/result/0" when the
// result is a list); here it can. Both only ever erase more, never less.
import { McpgateError } from '../util/errors.js';

export const MASK_ENTRYPOINT = 'system/log/mask';
export const DROP_ENTRYPOINT = 'system/log/drop';
export const LOG_ENTRYPOINTS = [MASK_ENTRYPOINT, DROP_ENTRYPOINT] as const;

export class MaskRuleError extends McpgateError {
  static override readonly code = 'ERR_MASK_RULE_INVALID';
}

export interface MaskRule {
  op: 'remove' | 'upsert';
  /** The path as listed in `erased` / `masked`. */
  path: string;
  /** Segments after the leading "/": [part, ...rest]. */
  segments: string[];
  value: unknown;
}

export interface MaskOutcome {
  erased: string[];
  masked: string[];
}

const PARTS = new Set(['input', 'result', 'nd_builtin_cache']);

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parsePath(path: unknown, where: string): string[] {
  if (typeof path !== 'string' || path === '') {
    throw new MaskRuleError(`${where}: path must be a non-empty string`);
  }
  if (!path.startsWith('/')) throw new MaskRuleError(`${where}: path must start with "/"`);
  const segments = path.slice(1).split('/');
  if (!PARTS.has(segments[0] ?? '')) {
    throw new MaskRuleError(
      `${where}: mask prefix not allowed: "${segments[0] ?? ''}" (only /input, /result)`,
    );
  }
  return segments;
}

/**
 * The rules from a data.system.log.mask result (undefined: no rules). Throws MaskRuleError
 * when the result is not a collection or any rule is invalid, as OPA rejects the set.
 */
export function parseMaskRules(result: unknown): MaskRule[] {
  if (result === undefined) return [];
  if (!Array.isArray(result)) {
    throw new MaskRuleError(`system.log.mask must be a set of rules, not ${typeName(result)}`);
  }
  const ordered = [...(result as unknown[])].sort(compareValues);
  return ordered.map((raw, i): MaskRule => {
    const where = `system.log.mask rule ${JSON.stringify(raw)}`;
    if (typeof raw === 'string') {
      return { op: 'remove', path: raw, segments: parsePath(raw, where), value: undefined };
    }
    if (!isObject(raw)) {
      throw new MaskRuleError(`${where}: a rule is a path string or an object (rule ${i})`);
    }
    const op = raw.op;
    if (op !== 'remove' && op !== 'upsert') {
      throw new MaskRuleError(`${where}: op must be "remove" or "upsert"`);
    }
    const segments = parsePath(raw.path, where);
    return { op, path: `/${segments.join('/')}`, segments, value: raw.value ?? null };
  });
}

/** Applies the rules to the event in place, in order. */
export function applyMaskRules(event: JsonObject, rules: MaskRule[]): MaskOutcome {
  const outcome: MaskOutcome = { erased: [], masked: [] };
  for (const rule of rules) {
    const [part, ...rest] = rule.segments as [string, ...string[]];
    if (!Object.prototype.hasOwnProperty.call(event, part)) continue;
    if (rule.op === 'remove') {
      if (rest.length === 0) delete event[part];
      else if (!removeAt(event[part], rest)) continue;
      outcome.erased.push(rule.path);
    } else {
      if (rest.length === 0) event[part] = rule.value;
      else {
        const target = event[part];
        if (!isObject(target) || !upsertAt(target, rest, rule.value)) continue;
      }
      outcome.masked.push(rule.path);
    }
  }
  return outcome;
}

/** strconv.Atoi-like: optional sign and digits; -1 when not an index. */
function arrayIndex(segment: string): number {
  if (!/^[+-]?\d+$/.test(segment)) return -1;
  const index = Number(segment);
  return Number.isSafeInteger(index) && index >= 0 ? index : -1;
}

function child(node: unknown, segment: string): { found: boolean; value: unknown } {
  if (Array.isArray(node)) {
    const index = arrayIndex(segment);
    return index >= 0 && index < node.length
      ? { found: true, value: (node as unknown[])[index] }
      : { found: false, value: undefined };
  }
  if (isObject(node) && Object.prototype.hasOwnProperty.call(node, segment)) {
    return { found: true, value: node[segment] };
  }
  return { found: false, value: undefined };
}

function removeAt(root: unknown, path: string[]): boolean {
  let node = root;
  for (const segment of path.slice(0, -1)) {
    const next = child(node, segment);
    if (!next.found) return false;
    node = next.value;
  }
  const last = path[path.length - 1] as string;
  if (Array.isArray(node)) {
    const index = arrayIndex(last);
    if (index < 0 || index >= node.length) return false;
    node.splice(index, 1);
    return true;
  }
  if (isObject(node) && Object.prototype.hasOwnProperty.call(node, last)) {
    delete node[last];
    return true;
  }
  return false;
}

function upsertAt(root: JsonObject, path: string[], value: unknown): boolean {
  let node: unknown = root;
  for (const segment of path.slice(0, -1)) {
    if (isObject(node)) {
      if (!Object.prototype.hasOwnProperty.call(node, segment)) node[segment] = {};
      node = node[segment];
    } else if (Array.isArray(node)) {
      const index = arrayIndex(segment);
      if (index < 0 || index >= node.length) return false;
      node = (node as unknown[])[index];
    } else {
      return false;
    }
  }
  const last = path[path.length - 1] as string;
  if (isObject(node)) {
    node[last] = value;
    return true;
  }
  if (Array.isArray(node)) {
    const index = arrayIndex(last);
    if (index < 0 || index >= node.length) return false;
    (node as unknown[])[index] = value;
    return true;
  }
  return false;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function rank(value: unknown): number {
  if (value === null || value === undefined) return 0;
  switch (typeof value) {
    case 'boolean':
      return 1;
    case 'number':
      return 2;
    case 'string':
      return 3;
    default:
      return Array.isArray(value) ? 7 : 8;
  }
}

/** Go string order (UTF-8 bytes, i.e. code points) on JS (UTF-16) strings. */
function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    // A surrogate is part of a code point above U+FFFF: after every other BMP character.
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** OPA's order of JSON values (ast.Compare): null < boolean < number < string < array < object. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a ? 1 : -1;
    case 2:
      return (a as number) - (b as number);
    case 3:
      return compareStrings(a as string, b as string);
    case 7: {
      const x = a as unknown[];
      const y = b as unknown[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    default: {
      const x = a as JsonObject;
      const y = b as JsonObject;
      const xKeys = Object.keys(x).sort(compareStrings);
      const yKeys = Object.keys(y).sort(compareStrings);
      for (let i = 0; i < Math.min(xKeys.length, yKeys.length); i++) {
        const xKey = xKeys[i] as string;
        const yKey = yKeys[i] as string;
        const c = compareStrings(xKey, yKey) || compareValues(x[xKey], y[yKey]);
        if (c !== 0) return c;
      }
      return xKeys.length - yKeys.length;
    }
  }
}
