// `mcpgate audit verify FILE...`: checks the tamper evidence of decision-log files: the hash
// chain (and with --key the HMAC) of every line, across rotated files given in order.
import type { KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hmacKeyFrom } from '../audit/decision-log.js';
import { verifyFiles, type VerifyFinding } from '../audit/verify.js';
import { parseSecretRef } from '../config/secrets.js';

export const AUDIT_USAGE = `  mcpgate audit verify FILE... [--key env:NAME|file:PATH]... [--allow-new-chains] [--json]
                                               check the hash chain (and HMAC) of decision-log files,
                                               oldest first: rotated files, then the current one`;

const HELP = `Usage:
${AUDIT_USAGE}

Every stdout and file decision-log line ends with a "chain" member: its seq and the SHA-256
of the line before it (prev), and with audit.hmac_key an HMAC. verify reads the files in the
order given (a spool file after the file it belongs to) and reports each line that breaks the
chain: a line removed, reordered, altered or cut short, as FILE:LINE and what was expected.

Options:
  --key env:NAME|file:PATH   the audit.hmac_key, by reference (repeat for a key rotated
                             between the files); without it HMACs are not checked
  --allow-new-chains         accept lines that start a new chain after other lines (stdout
                             captured across restarts: each process starts its own chain)
  --json                     print the report as JSON

Exit status: 0 the chain is intact, 1 problems were found, 2 usage error.
`;

function print(kind: string, f: VerifyFinding): string {
  return `${f.file}:${f.line}: ${kind}${f.message}`;
}

export function auditCommand(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    console.log(HELP);
    return 0;
  }
  if (sub !== 'verify') {
    console.error(`unknown audit command "${sub}"\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      key: { type: 'string', multiple: true, default: [] },
      'allow-new-chains': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) {
    console.error(`audit verify needs at least one decision-log file\n\n${HELP}`);
    return 2;
  }
  const keys: KeyObject[] = values.key.map((ref, i) =>
    hmacKeyFrom(parseSecretRef(ref, `--key ${i + 1}`, process.cwd())),
  );
  const files = positionals.map((p) => resolve(p));
  const report = verifyFiles(files, { keys, allowNewChains: values['allow-new-chains'] });
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return report.problems.length > 0 ? 1 : 0;
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
    return 1;
  }
  console.log(`${checked}: the chain is intact; ${hmac}${last}`);
  return 0;
}
