// A policy for tests of protocol features (completion, subscriptions, tasks): the shipped
// rego/ folder plus a purpose `feature-test` that allows every request and shows every item
// except completion values starting with "Sales" (so a test sees values filtered), and
// refuses tasks kept longer than ten minutes (so a test sees input.task decided). The
// shipped code-review purpose stays as it is, for the refusals it gives.
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestIssuer } from '../../support/issuer.js';
import { connectClient } from './client.js';
import { buildInto, copyRego } from './rego-copy.js';

export const FEATURE_PURPOSE = 'feature-test';

const PURPOSE_REGO = `package mcp.purposes.feature_test

purpose := "${FEATURE_PURPOSE}"

allow := true

visible contains item.id if {
\tsome item in input.catalog
\tnot startswith(item.id, "Sales")
}

deny contains "a task may be kept at most 10 minutes (task.ttl_ms)" if input.task.ttl_ms > 600000
`;

export interface FeaturePolicy {
  /** The bundle the gateway loads (and watches). */
  bundle: string;
  /** Adds Rego to the feature-test purpose and rebuilds the bundle in place. */
  amend(rego: string): string;
}

export function featurePolicy(): FeaturePolicy {
  const regoDir = copyRego();
  const file = join(regoDir, 'mcp/purposes/feature_test.rego');
  let text = PURPOSE_REGO;
  writeFileSync(file, text);
  const bundle = join(mkdtempSync(join(tmpdir(), 'mcpgate-feature-')), 'bundle.tar.gz');
  buildInto(regoDir, bundle);
  return {
    bundle,
    amend(rego: string): string {
      text = `${text}\n${rego}\n`;
      writeFileSync(file, text);
      return buildInto(regoDir, bundle);
    },
  };
}

/** A client of a feature-test session, for `user` of the engineering group. */
export async function connectFeatureClient(
  mcpUrl: string,
  issuer: TestIssuer,
  user: string,
): Promise<Client> {
  const token = await issuer.mint({ aud: mcpUrl, sub: user, groups: ['engineering'] });
  return connectClient(mcpUrl, token, { 'Mcp-Purpose': FEATURE_PURPOSE });
}
