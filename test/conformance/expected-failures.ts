// What is expected to fail through mcpgate today, each with the item of issue 15 whose work
// makes it pass: the conformance scenarios that pass against the fixture directly
// (test/e2e/conformance.test.ts) and the checks of the Python client test
// (test/e2e/python-client.test.ts). Each test fails on a failure not listed here and on a
// listed one that passes: the branch that makes one pass deletes its entry (and, for the
// conformance suite, runs `npm run conformance` to refresh the table in
// docs/mcp-compatibility.md), so the lists only shrink.

/** The items of issue 15 that change what the suite sees (the numbers are the issue's). */
export const ISSUE_15_ITEMS = {
  1: 'server→client requests: sampling, elicitation, roots',
  2: 'logging',
  3: 'completion',
  4: 'subscriptions',
  5: 'tasks',
  6: 'cancellation',
  9: 'names',
  10: 'legacy HTTP+SSE upstreams',
} as const;

export type Issue15Item = keyof typeof ISSUE_15_ITEMS;

export interface ExpectedFailure {
  /** The conformance scenario, or the Python client check. */
  name: string;
  item: Issue15Item;
  /** Why it fails today, as a reader of the table needs to know it. */
  why: string;
}

export const CONFORMANCE_EXPECTED_FAILURES: readonly ExpectedFailure[] = [];

export const PYTHON_CLIENT_EXPECTED_FAILURES: readonly ExpectedFailure[] = [];

/**
 * Judges outcomes (name → passed) against a list: `unexpected` failed and are not listed;
 * `stale` are listed but passed, or were not run at all.
 */
export function judge(
  outcomes: ReadonlyMap<string, boolean>,
  expected: readonly ExpectedFailure[],
): { unexpected: string[]; stale: string[] } {
  const listed = new Set(expected.map((entry) => entry.name));
  return {
    unexpected: [...outcomes]
      .filter(([name, passed]) => !passed && !listed.has(name))
      .map(([name]) => name),
    stale: expected.map((entry) => entry.name).filter((name) => outcomes.get(name) !== false),
  };
}
