// Runs fn, which must throw an Error, and returns it (so tests can assert on class and text).
export function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`expected an Error to be thrown, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an error to be thrown, but the call returned');
}

/** Returns the only element of a list, failing when there is not exactly one. */
export function only<T>(items: readonly T[]): T {
  const [first] = items;
  if (items.length !== 1 || first === undefined) {
    throw new Error(`expected exactly one item, got ${items.length}`);
  }
  return first;
}
