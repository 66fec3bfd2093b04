#!/usr/bin/env node
// Runs the MCP conformance suite's server scenarios against the fixture upstream directly,
// through mcpgate (one upstream, no prefix) and through mcpgate with two prefixed upstreams,
// and writes the table (test/conformance/harness.ts does the work; docs/testing.md#conformance).
//
//   node scripts/conformance.mjs           writes .tools/conformance-results/latest.{md,json}
//   --out DIR                              writes them into DIR instead
//   --docs                                 also replaces the table in docs/mcp-compatibility.md
//
// Exits 1 when a scenario that passes directly fails through mcpgate without being in the
// expected-failures list, or a listed one passes. Needs `npm run build` (dist/) and the suite
// (`bash scripts/install-conformance.sh`); `npm run conformance` builds and runs with --docs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';

const ROOT = join(import.meta.dirname, '..');
const { values: flags } = parseArgs({
  options: { out: { type: 'string' }, docs: { type: 'boolean', default: false } },
});
const out = flags.out ?? join(ROOT, '.tools/conformance-results');

const harness = await import(
  pathToFileURL(join(ROOT, 'dist/test/conformance/harness.js')).href
).catch((err) => {
  console.error(
    `conformance: cannot load the compiled harness (run \`npm run build\` first): ${err.message}`,
  );
  process.exit(2);
});
const missing = harness.missingTools();
if (missing) {
  console.error(`conformance: ${missing}`);
  process.exit(2);
}

const report = await harness.runConformance({ log: (line) => console.log(line) });
const markdown = harness.renderMarkdown(report);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(join(out, 'latest.md'), markdown);
console.log(`\n${markdown}\nwrote ${join(out, 'latest.md')} and latest.json`);

if (flags.docs) {
  const docs = harness.withTable(readFileSync(harness.DOCS_FILE, 'utf8'), markdown);
  // As `npm run format` would write it, so the format check in CI stays green.
  const formatted = await prettier.format(docs, {
    ...(await prettier.resolveConfig(harness.DOCS_FILE)),
    filepath: harness.DOCS_FILE,
  });
  writeFileSync(harness.DOCS_FILE, formatted);
  console.log(`updated the table in ${harness.DOCS_FILE}`);
}

if (report.unexpected.length || report.stale.length) process.exit(1);
