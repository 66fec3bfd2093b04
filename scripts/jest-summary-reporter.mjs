// A Jest reporter that keeps the run's counts in .tools/test-summary.txt (git-ignored) as one
// plain line, "N passed, N failed", which .ci/run prints last: CI reads a run's closing line.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export default class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const dir = join(this.rootDir, '.tools');
    mkdirSync(dir, { recursive: true });
    const line = `${results.numPassedTests} passed, ${results.numFailedTests} failed`;
    writeFileSync(join(dir, 'test-summary.txt'), `${line}\n`);
  }
}
