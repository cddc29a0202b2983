import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Runs after everything else (scripts/test.sh), over what the suite left behind.
    exclude: ['test/e2e/leak-scan.test.ts', 'node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Real servers and a 2-core machine: a few files at a time, generous timeouts.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
