// `mcpgate audit verify FILE...`: checks the tamper evidence of decision-log files: the hash
// chain (and with --key the HMAC) of every line, across rotated files given in order.
import type { KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { hmacKeyFrom } from '../audit/decision-log.js';
import { verifyFiles, type VerifyFinding } from '../audit/verify.js';
import { parseSecretRef } from '../config/secrets.js';
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';

export const AUDIT_VERIFY_SPEC = {
  name: 'audit verify',
  summary: 'check the hash chain (and HMAC) of decision-log files, oldest first',
  args: [
    {
      name: 'FILE...',
      help: 'decision-log files in order: rotated files, then the current one (a spool file after the file it belongs to)',
      variadic: true,
    },
  ],
  options: {
    key: {
      type: 'string',
      value: 'env:NAME|file:PATH',
      multiple: true,
      help: 'the audit.hmac_key, by reference (repeat for a key rotated between the files); without it HMACs are not checked',
    },
    'allow-new-chains': {
      type: 'boolean',
      default: false,
      help: 'accept lines that start a new chain after other lines (stdout captured across restarts: each process starts its own chain)',
    },
    json: { type: 'boolean', default: false, help: 'print the report as JSON' },
  },
  details: [
    'Every stdout and file decision-log line ends with a "chain" member: its seq and the SHA-256 of the line before it (prev), and with audit.hmac_key an HMAC. verify reports each line that breaks the chain (a line removed, reordered, altered or cut short) as FILE:LINE and what was expected.',
    'Exit status: 0 the chain is intact, 1 problems were found, 2 usage error.',
  ],
  example: ['mcpgate audit verify decisions.log.1 decisions.log --key env:MCPGATE_AUDIT_KEY'],
} as const satisfies CommandSpec;

function print(kind: string, f: VerifyFinding): string {
  return `${f.file}:${f.line}: ${kind}${f.message}`;
}

export function auditVerify(argv: string[]): Promise<number> {
  const parsed = parseCommand(AUDIT_VERIFY_SPEC, argv);
  const values = parsed.values as { key?: string[]; 'allow-new-chains': boolean; json: boolean };
  const positionals = parsed.positionals;
  if (positionals.length === 0) {
    throw new UsageError(AUDIT_VERIFY_SPEC.name, 'needs at least one decision-log FILE');
  }
  const keys: KeyObject[] = (values.key ?? []).map((ref, i) =>
    hmacKeyFrom(parseSecretRef(ref, `--key ${i + 1}`, process.cwd())),
  );
  const files = positionals.map((p) => resolve(p));
  const report = verifyFiles(files, { keys, allowNewChains: values['allow-new-chains'] });
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return Promise.resolve(report.problems.length > 0 ? 1 : 0);
  }
  for (const n of report.notes) console.log(print('note: ', n));
  for (const p of report.problems) console.log(print('', p));
  const checked = `checked ${report.lines} lines in ${report.files} file(s)`;
  const hmac =
    keys.length === 0
      ? 'HMACs not checked (no --key)'
      : `${report.signed_lines_checked} HMACs checked`;
  const last = report.last
    ? `; last line: seq ${String(report.last.seq)}, sha256 ${report.last.hash}`
    : '';
  if (report.problems.length > 0) {
    console.log(`${checked}: ${report.problems.length} problem(s); ${hmac}`);
    return Promise.resolve(1);
  }
  console.log(`${checked}: the chain is intact; ${hmac}${last}`);
  return Promise.resolve(0);
}
