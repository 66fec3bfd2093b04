#!/usr/bin/env node
// Long fuzz runs: the suites of test/fuzz/ (compiled into dist/test/fuzz/) with many more
// cases than CI runs, and every failing case kept as a regression case.
//
//   node scripts/fuzz.mjs [--runs 1000000] [--seed S] [--suite NAME]... [--no-record]
//
// --runs     cases per property (default 1,000,000; CI runs 10,000 of most properties)
// --seed     fast-check's seed, to repeat a run (default: a new one each run, printed on failure)
// --suite    only this suite (jsonrpc-intake, policy-paths, jwt-intake, bundle-reader,
//            config-loader); may be given more than once
// --no-record  do not add failing cases to test/fuzz/regressions.json
//
// Suites run one after another (one Jest worker), each property stopping at its first
// failure. A failure is reported by fast-check (seed, path, shrunk counterexample) and, unless
// --no-record, appended to test/fuzz/regressions.json, which every CI run replays first: fix
// the bug, keep the entry (add a note saying what it was). Needs `npm run build` and
// `mcpgate policy build` first (`npm run fuzz` does both).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REGRESSIONS = join(ROOT, 'test/fuzz/regressions.json');
const SUITES = ['jsonrpc-intake', 'policy-paths', 'jwt-intake', 'bundle-reader', 'config-loader'];

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000000' },
    seed: { type: 'string' },
    suite: { type: 'string', multiple: true, default: [] },
    'no-record': { type: 'boolean', default: false },
  },
});

function fail(message) {
  process.stderr.write(`fuzz: ${message}\n`);
  process.exit(2);
}

if (!/^[1-9]\d*$/.test(flags.runs))
  fail(`--runs must be a positive whole number, not "${flags.runs}"`);
if (flags.seed !== undefined && !/^-?\d+$/.test(flags.seed)) {
  fail(`--seed must be an integer, not "${flags.seed}"`);
}
const unknown = flags.suite.filter((s) => !SUITES.includes(s));
if (unknown.length > 0) fail(`unknown suite ${unknown.join(', ')} (one of ${SUITES.join(', ')})`);
const suites = flags.suite.length > 0 ? flags.suite : SUITES;
const files = suites.map((s) => join(ROOT, `dist/test/fuzz/${s}.fuzz.test.js`));
const missing = files.filter((f) => !existsSync(f));
if (missing.length > 0) fail(`${missing.join(', ')} missing: run \`npm run build\` first`);

const scratch = mkdtempSync(join(tmpdir(), 'mcpgate-fuzz-'));
const failuresFile = join(scratch, 'failures.jsonl');
writeFileSync(failuresFile, '');
console.log(
  `fuzz: ${suites.join(', ')}: ${flags.runs} cases per property` +
    (flags.seed === undefined ? '' : `, seed ${flags.seed}`),
);
const started = Date.now();
const jest = spawnSync(
  process.execPath,
  [
    '--experimental-vm-modules',
    join(ROOT, 'node_modules/jest/bin/jest.js'),
    '--runInBand',
    ...files,
  ],
  {
    cwd: ROOT,
    stdio: 'inherit',
    env: {
      ...process.env,
      MCPGATE_FUZZ_RUNS: flags.runs,
      MCPGATE_FUZZ_FAILURES: failuresFile,
      ...(flags.seed === undefined ? {} : { MCPGATE_FUZZ_SEED: flags.seed }),
    },
  },
);
const failures = readFileSync(failuresFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line));
rmSync(scratch, { recursive: true, force: true });
console.log(`fuzz: done in ${Math.round((Date.now() - started) / 1000)} s`);

if (failures.length > 0 && !flags['no-record']) {
  const kept = JSON.parse(readFileSync(REGRESSIONS, 'utf8'));
  const known = new Set(kept.map((r) => `${r.property} ${r.seed} ${r.path}`));
  const added = failures.filter((f) => !known.has(`${f.property} ${f.seed} ${f.path}`));
  writeFileSync(REGRESSIONS, `${JSON.stringify([...kept, ...added], null, 2)}\n`);
  for (const f of added) {
    console.log(
      `fuzz: kept ${f.property} seed ${f.seed} path ${f.path} in test/fuzz/regressions.json`,
    );
  }
}
process.exit(jest.status ?? 1);
