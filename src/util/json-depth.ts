// How deeply a parsed JSON value nests, measured without recursion. Several parts of the
// request path walk arguments recursively (the SDK's schemas, canonical JSON for the
// arguments digest, the policy input), so a body nested thousands of levels deep would
// overflow the stack inside one of them; the edge measures the depth first, with an
// explicit stack, and stops as soon as the limit is passed.

/**
 * True when `value` nests objects and arrays more than `maxDepth` levels deep. A scalar
 * is depth 0, `{}` and `[]` are depth 1, `{"a":[1]}` is depth 2. Work is bounded by the
 * number of containers visited before the answer is known.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return true;
    if (Array.isArray(current)) {
      for (const child of current as unknown[]) {
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    const fields = current as Record<string, unknown>;
    for (const key in fields) {
      const child = fields[key];
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
