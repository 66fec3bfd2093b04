// A rego/ folder as a policy source: which of its files are policy, and a digest of them.
// Here, not in the toolchain, because the gateway's development mode (watch_rego) polls the
// digest to notice an edit, and `mcpgate policy build` stamps it on the bundle as its
// revision: both must read the same files the same way.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Folders and files of rego/ that are tooling, not policy: never built into the bundle. */
export const NON_POLICY_ENTRIES = ['tests', 'schema', 'capabilities.json'];

/** The policy files under dir (.rego, .json, .yaml, .yml), sorted by path. */
export function policyFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    // Skipped at any depth, as `opa build --ignore` does.
    if (NON_POLICY_ENTRIES.includes(name)) continue;
    if (statSync(path).isDirectory()) files.push(...policyFiles(path));
    else if (/\.(rego|json|yaml|yml)$/.test(name)) files.push(path);
  }
  return files;
}

/** A content digest of the policy sources: the same rego/ always gives the same revision. */
export function sourceRevision(regoDir: string): string {
  const hash = createHash('sha256');
  for (const file of policyFiles(regoDir)) {
    hash.update(relative(regoDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return `rego-${hash.digest('hex').slice(0, 16)}`;
}
