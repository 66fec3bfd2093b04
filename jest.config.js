// Jest runs on the ESM that `tsc` emits into dist/ (see docs/testing.md for why).
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  transform: {},
  testTimeout: 60000,
  maxWorkers: 2,
  // Modules loaded through --experimental-vm-modules are not freed between test files, so a
  // worker grows with every file it runs; on a fresh clone's full run one ran out of memory
  // near the end. A worker above this after a file is replaced by a fresh one.
  workerIdleMemoryLimit: '1GB',
  // The default output, and the counts as one line for .ci/run's closing line.
  reporters: ['default', '<rootDir>/scripts/jest-summary-reporter.mjs'],
};
