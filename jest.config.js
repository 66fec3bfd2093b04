// Jest runs on the ESM that `tsc` emits into dist/ (see docs/testing.md for why).
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  transform: {},
  testTimeout: 60000,
  maxWorkers: 2,
};
