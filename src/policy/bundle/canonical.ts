// Structured bundle files (data.json, data.yaml, data.yml, .manifest) are signed over a
// canonical form of their content, not over their bytes, so the signature survives
// re-indentation. OPA's form, checked against `opa sign` / `opa build --verification-key`
// (v1.22):
//   - content that is valid JSON is read losslessly: every number keeps its literal text
//     (1.0, 1e2, -0.0 and 12345678901234567890 are hashed as written);
//   - anything else is read as YAML (1.2 core schema), and numbers are written as Go's
//     encoding/json writes the value YAML decoding produced: integers in int64/uint64
//     range in decimal, everything else as a float64 (1.0 -> 1, 1e2 -> 100, -0.0 -> -0).
//     Integers are recognised as Go's YAML decoder (yaml.v3) does: Go integer literal
//     syntax, so 017 is octal 15, 0b101 is 5 and 1_000 is 1000;
//   - objects are written with keys in UTF-8 byte order, `"k":v` joined by ",", arrays
//     `[a,b]`, no whitespace;
//   - strings use Go's escaping with HTML escaping off: \" \\ \b \f \n \r \t, other
//     control characters as \u00XX (lowercase hex), U+2028 and U+2029 escaped, "<>&" and
//     all other characters raw; ill-formed text is hashed as U+FFFD.
// JSON.parse cannot be used: it forgets how a number was written.
import { parseDocument, type ScalarTag } from 'yaml';
import { McpgateError } from '../../util/errors.js';
import { BundleError } from './errors.js';

/** A JSON number kept as its literal text. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** A JSON document read without loss: objects are Maps (last duplicate key wins, like Go). */
export type Lossless = null | boolean | string | JsonNumber | Lossless[] | Map<string, Lossless>;

const MAX_DEPTH = 1000;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** Text that is not JSON, from parseLosslessJson: where the problem is (an offset). */
export class LosslessJsonSyntaxError extends McpgateError {
  static override readonly code = 'ERR_JSON_SYNTAX';
}

/** Parses JSON text keeping number literals; throws LosslessJsonSyntaxError on bad input. */
export function parseLosslessJson(text: string): Lossless {
  let pos = 0;
  const fail = (what: string): never => {
    throw new LosslessJsonSyntaxError(`${what} at offset ${pos}`);
  };
  const skipSpace = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else return;
    }
  };
  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(start, pos);
      const e = text[pos + 1] ?? '';
      if (e === 'u') {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else {
        const decoded = ESCAPES[e];
        if (decoded === undefined) fail('bad escape');
        out += decoded;
        pos += 2;
      }
      start = pos;
    }
  };
  const parseValue = (depth: number): Lossless => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    skipSpace();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const entries = new Map<string, Lossless>();
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return entries;
      }
      for (;;) {
        skipSpace();
        if (text[pos] !== '"') fail('expected a string key');
        const key = parseString();
        skipSpace();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        const value = parseValue(depth + 1);
        entries.delete(key); // a repeated key takes the later value
        entries.set(key, value);
        skipSpace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return entries;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const items: Lossless[] = [];
      skipSpace();
      if (text[pos] === ']') {
        pos++;
        return items;
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        skipSpace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return items;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return parseString();
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(text);
    if (!match) return fail('unexpected character');
    pos += match[0].length;
    return new JsonNumber(match[0]);
  };
  const value = parseValue(0);
  skipSpace();
  if (pos !== text.length) fail('unexpected text after the JSON value');
  return value;
}

/** Whether parseLosslessJson accepts the text (Go's json.Valid). */
export function tryParseLosslessJson(text: string): Lossless | undefined {
  try {
    return parseLosslessJson(text);
  } catch (err) {
    if (err instanceof LosslessJsonSyntaxError) return undefined;
    throw err;
  }
}

/** Go's encoding/json text for a float64 (shortest round-trip; JS agrees except for -0). */
export function goFloat(value: number): string {
  if (!Number.isFinite(value)) throw new BundleError(`${value} cannot be written as JSON`);
  return Object.is(value, -0) ? '-0' : String(value);
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

function yamlToLossless(value: unknown, depth: number): Lossless {
  if (depth > MAX_DEPTH) throw new BundleError('YAML is nested too deeply');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') {
    // Go's YAML decoder keeps int64/uint64 integers; larger ones become float64.
    return new JsonNumber(
      value >= INT64_MIN && value <= UINT64_MAX ? value.toString() : goFloat(Number(value)),
    );
  }
  if (typeof value === 'number') return new JsonNumber(goFloat(value));
  if (Array.isArray(value)) return value.map((v) => yamlToLossless(v, depth + 1));
  if (value instanceof Map) {
    const entries = new Map<string, Lossless>();
    for (const [key, v] of value as Map<unknown, unknown>) {
      let name: string;
      if (typeof key === 'string') name = key;
      else if (typeof key === 'bigint' || typeof key === 'boolean') name = String(key);
      else throw new BundleError(`YAML key ${String(key)} is not a string, integer or boolean`);
      entries.set(name, yamlToLossless(v, depth + 1));
    }
    return entries;
  }
  throw new BundleError(`YAML value of type ${typeof value} has no JSON form`);
}

/**
 * Go integer literals (strconv base 0), which yaml.v3 tries before anything else for a
 * plain scalar: decimal, legacy octal 017, 0o17, 0x1f, 0b101, "_" between digits.
 */
const GO_INT: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  test: /^[-+]?(?:0|[1-9](?:_?[0-9])*|0(?:_?[0-7])+|0[oO](?:_?[0-7])+|0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+)$/,
  resolve(text: string): bigint {
    const negative = text.startsWith('-');
    let digits = text.replace(/^[-+]/, '').replaceAll('_', '');
    if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
    const value = BigInt(digits.toLowerCase());
    return negative ? -value : value;
  },
};

/** Parses YAML (1.2 core schema) into the value OPA would load, numbers as Go writes them. */
export function parseYamlLossless(text: string): Lossless {
  const doc = parseDocument(text, {
    intAsBigInt: true,
    uniqueKeys: true,
    prettyErrors: false,
    customTags: (tags) => [GO_INT, ...tags],
  });
  const [first] = doc.errors;
  if (first) throw new BundleError(first.message.split('\n')[0] ?? 'YAML error');
  return yamlToLossless(doc.toJS({ mapAsMap: true, maxAliasCount: 100 }), 0);
}

/**
 * A structured file's content: JSON when the text is valid JSON (numbers kept as written),
 * else YAML. This is how OPA reads a file for hashing; see the top of this file.
 */
export function parseStructured(text: string): Lossless {
  const json = tryParseLosslessJson(text);
  return json === undefined ? parseYamlLossless(text) : json;
}

function goString(value: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    let escaped: string | undefined;
    if (c === 0x22) escaped = '\\"';
    else if (c === 0x5c) escaped = '\\\\';
    else if (c < 0x20) {
      escaped =
        c === 0x08
          ? '\\b'
          : c === 0x0c
            ? '\\f'
            : c === 0x0a
              ? '\\n'
              : c === 0x0d
                ? '\\r'
                : c === 0x09
                  ? '\\t'
                  : `\\u00${c.toString(16).padStart(2, '0')}`;
    } else if (c === 0x2028 || c === 0x2029) escaped = `\\u${c.toString(16)}`;
    if (escaped !== undefined) {
      out += value.slice(start, i) + escaped;
      start = i + 1;
    }
  }
  return `${out}${value.slice(start)}"`;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The canonical text OPA hashes for a structured file (see the top of this file). */
export function canonicalText(value: Lossless): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return goString(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(canonicalText).join(',')}]`;
  const keys = [...value.keys()].sort(compareUtf8);
  return `{${keys.map((k) => `${goString(k)}:${canonicalText(value.get(k) ?? null)}`).join(',')}}`;
}

/** Own-property assignment that is safe for keys such as "__proto__". */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** The plain JSON value (numbers as JS numbers) for the data document. */
export function toPlain(value: Lossless): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (value instanceof JsonNumber) return Number(value.text);
  if (Array.isArray(value)) return value.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [key, v] of value) setOwn(out, key, toPlain(v));
  return out;
}
