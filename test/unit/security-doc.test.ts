// docs/security.md's table of bad input must stay true to the tree: every row names at
// least one test, and every test it names exists.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

/** The rows of the table under "## The table": its cells, by column. */
function tableRows(): string[][] {
  const text = readFileSync(join(ROOT, 'docs/security.md'), 'utf8');
  const section = text.slice(text.indexOf('## The table'), text.indexOf('## Nesting depth'));
  return section
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2) // the header and its rule
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

describe('docs/security.md', () => {
  const rows = tableRows();

  it('has a row for every kind of bad input this part of the gateway refuses', () => {
    expect(rows.length).toBeGreaterThanOrEqual(40);
    for (const row of rows) expect(row).toHaveLength(6);
  });

  it.each(rows.map((row) => [row[0], row[5]] as const))(
    '%s: names tests that exist',
    (_input, tests) => {
      const files = [...(tests ?? '').matchAll(/`((?:e2e|unit|fuzz)\/[\w.-]+\.test\.ts)`/g)].map(
        (m) => m[1],
      );
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect(existsSync(join(ROOT, 'test', file!))).toBe(true);
    },
  );
});
