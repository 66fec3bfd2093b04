// What the edge checks in a parsed JSON body before anything else walks it, in one pass with
// an explicit stack (no recursion):
// - how deeply it nests. Several parts of the request path walk arguments recursively (the
//   SDK's schemas, canonical JSON for the arguments digest, the policy input), so a body
//   nested thousands of levels deep would overflow the stack inside one of them;
// - whether every key and string is well-formed Unicode. JSON text can carry a lone UTF-16
//   surrogate as an escape ("\ud800"), which JSON.parse keeps; such a string has no UTF-8
//   form, and OPA's wasm evaluator refuses any input holding one (`illegal string escape
//   character`): a request carrying one could not be decided, and one recorded in a session
//   (a resources/read URI in its summary) would fail every later decision of the session.

export type JsonValueProblem = 'too deep' | 'ill-formed string';

/** The longest path a refusal shows; the rest is cut (a client chooses the keys). */
const MAX_PATH_CHARS = 200;

/**
 * The first problem found in `value`: objects and arrays nested more than `maxDepth` levels
 * (a scalar is depth 0, `{}` and `[]` are depth 1, `{"a":[1]}` is depth 2), or a key or
 * string that is not well-formed; undefined when there is neither. Work is bounded by what
 * is visited before the answer is known.
 */
export function jsonValueProblem(value: unknown, maxDepth: number): JsonValueProblem | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : 'ill-formed string';
  if (typeof value !== 'object' || value === null) return undefined;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return 'too deep';
    // isWellFormed answers at once for a one-byte string (most are): it has no surrogate.
    if (Array.isArray(current)) {
      for (const child of current as unknown[]) {
        if (typeof child === 'string') {
          if (!child.isWellFormed()) return 'ill-formed string';
        } else if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    const fields = current as Record<string, unknown>;
    for (const key in fields) {
      if (!key.isWellFormed()) return 'ill-formed string';
      const child = fields[key];
      if (typeof child === 'string') {
        if (!child.isWellFormed()) return 'ill-formed string';
      } else if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return undefined;
}

/** One step of a path as a reader writes it: `.name`, `["odd key"]`, `[3]`. */
function step(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  // JSON.stringify writes a lone surrogate as an escape, so the text shown is well formed.
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/**
 * Which key or string of `value` is the first ill-formed one, as a refusal names it: `the
 * string at params.uri`, `the key params.arguments["a\ud800"]` (a path from the top, cut
 * at 200 characters), `the body`; undefined when there is none. Slower than
 * jsonValueProblem (it builds paths): for the refusal's message, once that found one.
 */
export function describeIllFormedString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : 'the body';
  if (typeof value !== 'object' || value === null) return undefined;
  const containers: Array<{ value: object; path: string }> = [{ value, path: '' }];
  const shown = (path: string): string => path.replace(/^\./, '').slice(0, MAX_PATH_CHARS);
  while (containers.length > 0) {
    const current = containers.pop()!;
    const entries: Array<[string | number, unknown]> = Array.isArray(current.value)
      ? (current.value as unknown[]).map((child, i) => [i, child])
      : Object.entries(current.value);
    for (const [key, child] of entries) {
      const path = current.path + step(key);
      if (typeof key === 'string' && !key.isWellFormed()) return `the key ${shown(path)}`;
      if (typeof child === 'string' && !child.isWellFormed()) return `the string at ${shown(path)}`;
      if (typeof child === 'object' && child !== null) containers.push({ value: child, path });
    }
  }
  return undefined;
}
