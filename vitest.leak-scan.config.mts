import { defineConfig } from 'vitest/config';

// The end-of-suite secret leak scan: runs alone, after the main suite (scripts/test.sh).
export default defineConfig({
  test: {
    include: ['test/e2e/leak-scan.test.ts'],
    testTimeout: 300_000,
  },
});
