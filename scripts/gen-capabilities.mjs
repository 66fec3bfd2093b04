#!/usr/bin/env node
// Regenerates rego/capabilities.json: the built-ins the gateway can evaluate in-process.
// That is OPA's own capabilities (features, keywords) with the built-in list cut down to
// (a) what OPA's wasm compiler implements natively and (b) what @open-policy-agent/opa-wasm
// supplies from JavaScript. `opa build --capabilities` then refuses any other built-in at
// build time instead of failing at evaluation time.
//
// Usage: node scripts/gen-capabilities.mjs   (needs the OPA module source in the Go module
// cache, which scripts/install-opa.sh leaves there, and the opa CLI).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opa = process.env.OPA_BIN ?? join(root, '.tools/bin/opa');
const version = readFileSync(join(root, 'scripts/opa-version'), 'utf8').trim();
const modCache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
const src = join(modCache, `github.com/open-policy-agent/opa@${version}`);

// Go identifier -> builtin name, from v1/ast/builtins.go (`var X = &Builtin{ Name: "x"`).
const astSource = readFileSync(join(src, 'v1/ast/builtins.go'), 'utf8');
const identToName = new Map();
for (const m of astSource.matchAll(/^var (\w+) = &Builtin\{\s*\n\s*Name:\s*"([^"]+)"/gm)) {
  identToName.set(m[1], m[2]);
}

// Natively compiled built-ins: keys of builtinsFunctions in internal/compiler/wasm/wasm.go.
const wasmSource = readFileSync(join(src, 'internal/compiler/wasm/wasm.go'), 'utf8');
const mapBody = wasmSource.split('var builtinsFunctions = map[string]string{')[1].split('\n}')[0];
const native = new Set();
for (const m of mapBody.matchAll(/ast\.(\w+)\.Name:/g)) {
  const name = identToName.get(m[1]);
  if (!name) throw new Error(`cannot resolve ast.${m[1]} to a builtin name`);
  native.add(name);
}

// Built-ins the JavaScript SDK implements for the host side.
const sdkBuiltins = join(root, 'node_modules/@open-policy-agent/opa-wasm/src/builtins');
for (const file of ['json.js', 'strings.js', 'regex.js', 'yaml.js']) {
  const text = readFileSync(join(sdkBuiltins, file), 'utf8');
  const exported = text.slice(text.indexOf('module.exports'));
  for (const m of exported.matchAll(/"([a-z_.]+)"\s*:/g)) native.add(m[1]);
  if (file === 'strings.js') native.add('sprintf');
  if (file === 'regex.js') native.add('regex.split');
}

const current = JSON.parse(execFileSync(opa, ['capabilities', '--current'], { encoding: 'utf8' }));
// Operators the planner compiles itself rather than through a builtin function.
for (const op of ['eq', 'assign']) native.add(op);
const kept = current.builtins.filter((b) => native.has(b.name) || b.name.startsWith('internal.'));
const missing = [...native].filter((n) => !current.builtins.some((b) => b.name === n));
if (missing.length) console.error(`note: not in this OPA's capabilities: ${missing.join(', ')}`);
current.builtins = kept;
writeFileSync(join(root, 'rego/capabilities.json'), JSON.stringify(current, null, 1) + '\n');
console.log(`rego/capabilities.json: ${kept.length} built-ins (OPA ${version})`);
