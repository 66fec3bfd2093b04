// Whether a bundle was built from the policy sources as they are now. `mcpgate eval` warns
// when not: after a failed `policy build` the old bundle is still there, and its answer is
// the old policy's.
import { existsSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { policyFiles, sourceRevision } from '../policy/sources/rego-dir.js';

/**
 * A warning when a policy file under regoDir changed after bundleFile was written, unless
 * the bundle's revision is the digest of the sources as they are (a checkout or `touch`
 * changes times, not contents). Undefined when the bundle is current or there is no
 * regoDir to compare with.
 */
export function staleBundleWarning(
  bundleFile: string,
  bundleRevision: string,
  regoDir: string,
): string | undefined {
  if (!existsSync(regoDir) || !statSync(regoDir).isDirectory()) return undefined;
  const builtAt = statSync(bundleFile).mtimeMs;
  const newer = policyFiles(regoDir)
    .map((file) => ({ file, changedAt: statSync(file).mtimeMs }))
    .filter((f) => f.changedAt > builtAt)
    .sort((a, b) => b.changedAt - a.changedAt);
  if (newer.length === 0) return undefined;
  if (bundleRevision === sourceRevision(regoDir)) return undefined;
  const names = newer.slice(0, 3).map((f) => relative(regoDir, f.file));
  const more = newer.length > 3 ? ` and ${newer.length - 3} more` : '';
  return (
    `warning: ${bundleFile} is older than the policy in ${regoDir} (${names.join(', ')}${more} ` +
    `changed after it was built), so this answer is the old policy's; run \`mcpgate policy build\` ` +
    '(if the last build failed, its errors say why)'
  );
}
