// How every fuzz suite runs its properties (fast-check): the number of cases, the seed, the
// regression cases replayed first, and what a failure leaves behind.
//
// - CI runs each property `ciRuns` times (at least 10,000; the suite says why when a property
//   costs more). MCPGATE_FUZZ_RUNS overrides that for every property (scripts/fuzz.mjs sets it
//   for long runs); MCPGATE_FUZZ_SEED fixes the seed (otherwise fast-check draws one and
//   prints it with any failure).
// - test/fuzz/regressions.json keeps failing cases as {property, seed, path}: each is replayed
//   before the property's own run, so a case that once failed is tried on every CI run.
// - A failure throws fast-check's report (seed, path, the shrunk counterexample). When
//   MCPGATE_FUZZ_FAILURES names a file, the failure is also appended there as one JSON line,
//   which scripts/fuzz.mjs turns into new entries of regressions.json.
// - An unhandled rejection or uncaught exception in code under test fails the running test:
//   Jest installs its own handlers for both and reports the error in that test.
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';

/** The repository root (this file runs from dist/test/fuzz/support/). */
export const ROOT = resolve(import.meta.dirname, '../../../..');
export const REGRESSIONS_FILE = join(ROOT, 'test/fuzz/regressions.json');

export interface Regression {
  /** The property's name as given to checkProperty. */
  property: string;
  seed: number;
  /** fast-check's counterexample path: which shrink of which case failed. */
  path: string;
  /** What failed, for the reader. */
  note?: string;
}

function wholeNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, not "${raw}"`);
  return value;
}

/** How many cases a property runs: MCPGATE_FUZZ_RUNS when set, else its CI count. */
export function runsFor(ciRuns: number): number {
  return wholeNumber('MCPGATE_FUZZ_RUNS') ?? ciRuns;
}

/**
 * Jest's timeout for a test running `ciRuns` cases: its CI budget, scaled up for a long run
 * (cases cost about the same whatever their number).
 */
export function timeoutFor(ciRuns: number, ciBudgetMs: number): number {
  return Math.ceil((ciBudgetMs * Math.max(runsFor(ciRuns), ciRuns)) / ciRuns);
}

export function regressionsOf(property: string): Regression[] {
  const all = JSON.parse(readFileSync(REGRESSIONS_FILE, 'utf8')) as Regression[];
  return all.filter((r) => r.property === property);
}

type AnyProperty<T> = fc.IProperty<T> | fc.IAsyncProperty<T>;

function fail<T>(property: string, details: fc.RunDetails<T>, replay: boolean): never {
  const file = process.env.MCPGATE_FUZZ_FAILURES;
  const error = details.errorInstance;
  if (file && !replay && details.counterexamplePath !== null) {
    const record = {
      property,
      seed: details.seed,
      path: details.counterexamplePath,
      note: error instanceof Error ? error.message.split('\n')[0] : String(error),
    };
    appendFileSync(file, `${JSON.stringify(record)}\n`);
  }
  const what = replay ? `regression case of ${property}` : property;
  const cause = error instanceof Error ? error.message : String(error);
  throw new Error(`${what} failed:\n${fc.defaultReportMessage(details) ?? ''}\n${cause}`);
}

/**
 * Replays the property's regression cases, then runs it `runsFor(ciRuns)` times. Throws
 * fast-check's report on the first failure.
 */
export async function checkProperty<T>(
  property: string,
  prop: AnyProperty<T>,
  ciRuns: number,
): Promise<void> {
  for (const regression of regressionsOf(property)) {
    // endOnFailure: replay exactly the recorded case, without shrinking it again.
    const details = await fc.check(prop as fc.IAsyncProperty<T>, {
      seed: regression.seed,
      path: regression.path,
      endOnFailure: true,
    });
    if (details.failed) fail(property, details, true);
  }
  const seed = wholeNumber('MCPGATE_FUZZ_SEED');
  const details = await fc.check(prop as fc.IAsyncProperty<T>, {
    numRuns: runsFor(ciRuns),
    ...(seed === undefined ? {} : { seed }),
  });
  if (details.failed) fail(property, details, false);
}

/**
 * Throws `message()` unless `condition` holds. For the checks inside a property, which run
 * thousands of times: Jest's expect costs more per call than most of the code under test.
 */
export function must(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).join(',');

/** Throws when Object.prototype has gained a key (prototype pollution by the code under test). */
export function mustKeepObjectPrototype(): void {
  must(
    Object.getOwnPropertyNames(Object.prototype).join(',') === PROTOTYPE_KEYS &&
      ({} as Record<string, unknown>).polluted === undefined,
    () => 'Object.prototype was changed',
  );
}

/**
 * A scratch directory in memory (/dev/shm) where there is one: the suites write a file per
 * case (configurations, decision lines), and a disk-backed temporary directory costs a
 * millisecond a write on some machines.
 */
export function scratchDir(prefix: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, prefix));
}
