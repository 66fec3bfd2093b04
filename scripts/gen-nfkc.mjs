#!/usr/bin/env node
// Regenerates rego/mcp/lib/nfkc/data.json: every character that Unicode compatibility
// normalisation (NFKC) changes, with its code point and what NFKC makes of it. The path
// rules (rego/mcp/lib/paths.rego) refuse a path holding one: Rego has no Unicode
// normalisation, and a server or file system that normalises (or a Windows best-fit
// conversion) would read "src/ｓecrets.ts" as "src/secrets.ts". The table comes from the
// ICU of the Node.js that runs this script (its Unicode version is recorded in the file);
// test/unit/paths-wasm.test.ts fails when the running Node knows a newer Unicode.
//
// Usage: node scripts/gen-nfkc.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'rego/mcp/lib/nfkc/data.json');

const lines = [];
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue; // surrogates are no characters
  const character = String.fromCodePoint(cp);
  const nfkc = character.normalize('NFKC');
  if (nfkc === character) continue;
  const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  // One string per character, "U+FF53 s": code point, a space, NFKC form. A pair of
  // strings would load about twice as slowly into the wasm evaluator (its reset too).
  lines.push(`    ${JSON.stringify(character)}: ${JSON.stringify(`${code} ${nfkc}`)}`);
}

const text = [
  '{',
  `  "unicode_version": ${JSON.stringify(process.versions.unicode)},`,
  '  "compatibility": {',
  lines.join(',\n'),
  '  }',
  '}',
  '',
].join('\n');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, text);
console.log(`wrote ${out}: ${lines.length} characters (Unicode ${process.versions.unicode})`);
