#!/usr/bin/env node
// Exits 0 when node_modules already holds exactly what package-lock.json asks for, 1 when
// `npm install` is needed (and says why). Runs before anything is installed, so it uses
// Node's built-ins only. It compares the lock with the record npm keeps of what it
// installed (node_modules/.package-lock.json): a package is current when the record has it
// at the locked version; an optional package may be absent (npm skips the bindings of
// other platforms); the record must hold nothing the lock does not; and the lock's root
// must ask for the same dependencies as package.json.
// Usage: node scripts/npm-packages-current.mjs [PROJECT_DIR]   (default: this checkout)
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));

function readJson(file) {
  try {
    return JSON.parse(readFileSync(join(root, file), 'utf8'));
  } catch {
    return undefined;
  }
}

function stale(reason) {
  console.log(`npm packages: ${reason}; npm install is needed`);
  process.exit(1);
}

const manifest = readJson('package.json');
const lock = readJson('package-lock.json');
const installed = readJson('node_modules/.package-lock.json');
if (!manifest || !lock?.packages) stale('package.json or package-lock.json is unreadable');
if (!installed?.packages) stale('node_modules is missing or was not installed by npm');

const lockRoot = lock.packages[''] ?? {};
for (const field of ['dependencies', 'devDependencies', 'optionalDependencies']) {
  const wanted = JSON.stringify(Object.entries(manifest[field] ?? {}).sort());
  const locked = JSON.stringify(Object.entries(lockRoot[field] ?? {}).sort());
  if (wanted !== locked) stale(`package.json ${field} differ from package-lock.json`);
}
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === '') continue;
  const have = installed.packages[path];
  if (have === undefined) {
    if (entry.optional || entry.devOptional) continue;
    stale(`${path} is not installed`);
  }
  if (have.version !== entry.version) {
    stale(`${path} is ${have.version}, the lock says ${entry.version}`);
  }
}
for (const path of Object.keys(installed.packages)) {
  if (!(path in lock.packages)) stale(`${path} is installed but not in the lock`);
}
