import { defineConfig } from 'vitest/config';

// Unit tests of the pure core only, for StrykerJS (stryker.config.mjs): no services, no workflow bundle.
export default defineConfig({
  test: {
    include: [
      'test/store/base-store.test.ts',
      'test/store/transitions.test.ts',
      'test/unit/postgres-privileges.test.ts',
      'test/unit/mysql-grants.test.ts',
      'test/unit/mysql-tokens.test.ts',
      'test/unit/mysql-auth.test.ts',
      'test/unit/redis-acl.test.ts',
      'test/unit/mongodb-users.test.ts',
      'test/unit/scram.test.ts',
      'test/unit/password.test.ts',
      'test/unit/dry-run-redaction.test.ts',
      'test/unit/consumer-rotating.test.ts',
      'test/unit/consumer-sources.test.ts',
    ],
    pool: 'forks',
    testTimeout: 30_000,
  },
});
