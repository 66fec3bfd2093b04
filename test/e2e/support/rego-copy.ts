// A scratch copy of the shipped rego/ folder and a way to build it with the real OPA CLI,
// for tests that change a policy and watch the gateway pick it up.
import { cpSync, mkdtempSync, appendFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWasmBundle, regoLayout } from '../../../src/toolchain/opa.js';
import { ROOT } from './gateway.js';

export function copyRego(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'mcpgate-rego-')), 'rego');
  cpSync(join(ROOT, 'rego'), dir, { recursive: true });
  return dir;
}

/** Appends Rego to the code-review purpose (a rule a security team might add). */
export function addToCodeReview(regoDir: string, rego: string): void {
  appendFileSync(join(regoDir, 'mcp/purposes/code_review.rego'), `\n${rego}\n`);
}

export const DENY_ECHO = `deny contains "everything.echo was withdrawn by the security team" if {
\tinput.tool.id == "everything.echo"
}`;

/**
 * A rule that reads the recent history (and never refuses anything): with it, the policy may
 * read input.session.history, so the gateway sends it (the shipped policy never reads it).
 */
export const READS_HISTORY = `deny contains "more recent calls than any history holds" if {
\tcount(data.mcp.lib.history.tool_calls) > 100000
}`;

/** Builds regoDir into `target` atomically (write elsewhere, then rename). */
export function buildInto(regoDir: string, target: string): string {
  const tmp = `${target}.tmp-${process.pid}`;
  const revision = buildWasmBundle(regoLayout(regoDir), tmp);
  renameSync(tmp, target);
  return revision;
}
