import { defineConfig } from 'vitest/config';

// Unit tests of the pure core, for StrykerJS (stryker.config.mjs): no services, no workflow bundle.
// Wherever they live (test/<mirror of src>/…); tests that need servers or the dev server are left out.
// StrykerJS runs only the files related to the mutated module (`related: true`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/*.int.test.ts', 'test/e2e/**', 'test/workflows/**', 'test/replay/**', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 30_000,
  },
});
