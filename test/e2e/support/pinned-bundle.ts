// A policy bundle in which the given upstreams' tools are pinned, made the way an operator
// makes one: a copy of the shipped Rego, `mcpgate tools pin` against the live upstreams,
// then a build. Purposes that use only pinned definitions (incident-response's
// require_pinned) can then call them.
import { dirname, join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { runCli } from './cli.js';
import { buildInto, copyRego } from './rego-copy.js';

/**
 * Pins what `upstreams` serve (their config resolved from `dir`, as the gateway's is) into
 * a copy of rego/ that `edit` may change first, builds it and returns the bundle's path.
 */
export async function pinnedBundle(
  dir: string,
  upstreams: Record<string, unknown>,
  edit: (regoDir: string) => void = () => undefined,
): Promise<string> {
  const rego = copyRego();
  edit(rego);
  const review = join(dir, 'pin-review.yaml');
  writeFileSync(
    review,
    stringify({
      auth: { issuers: [{ profile: 'oidc', issuer: 'https://idp.example.com' }] },
      policy: { bundle: 'unused.tar.gz' },
      upstreams,
    }),
  );
  const pinned = await runCli(
    ['tools', 'pin', '--config', review, '--pins', join(rego, 'pins/data.json')],
    { cwd: dir },
  );
  if (pinned.code !== 0) throw new Error(`mcpgate tools pin failed:\n${pinned.stderr}`);
  const bundle = join(dirname(rego), 'bundle.tar.gz');
  buildInto(rego, bundle);
  return bundle;
}
