/**
 * Privilege cloning: a PostgreSQL login with 1,000 and 10,000 table grants
 * (3 privileges each) is cloned with createLoginLike and verified with
 * comparePrivileges. Sizes via BENCH_GRANT_TABLES=1000,10000.
 * Writes reports/bench-privilege-clone.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeIdentifier } from 'pg';
import { createEngine } from '../src/engines';
import { generatePassword } from '../src/engines/password';
import { createPgFixture, pgAdminFromEnv } from './lib/pg-fixture';

const env = process.env;
const SIZES = (env.BENCH_GRANT_TABLES ?? '1000,10000').split(',').map(Number);

async function main(): Promise<void> {
  const admin = pgAdminFromEnv(env);
  const results: Array<Record<string, number>> = [];
  for (const tables of SIZES) {
    const fx = await createPgFixture('bench_grants');
    try {
      // Tables and grants in one server-side loop: setup is not what we measure.
      await fx.admin.query(`CREATE SCHEMA wide`);
      await fx.admin.query(`GRANT USAGE ON SCHEMA wide TO ${escapeIdentifier(fx.login)}`);
      await fx.admin.query(
        `DO $$ BEGIN FOR i IN 1..${tables} LOOP
           EXECUTE format('CREATE TABLE wide.t%s (id int)', i);
           EXECUTE format('GRANT SELECT, INSERT, UPDATE ON wide.t%s TO %I', i, ${"'" + fx.login.replace(/'/g, "''") + "'"});
         END LOOP; END $$`,
      );
      const engine = createEngine('postgres', {
        host: admin.host,
        port: admin.port,
        database: fx.database,
        admin: { username: admin.user, password: admin.password },
      });
      try {
        const clone = `${fx.login}_b`;
        const t0 = Date.now();
        await engine.createLoginLike(fx.login, clone, generatePassword());
        const t1 = Date.now();
        const diff = await engine.comparePrivileges(fx.login, clone);
        const t2 = Date.now();
        if (diff.missing.length) throw new Error(`parity failed: ${diff.missing.slice(0, 3).join('; ')}`);
        const row = { tables, grants: tables * 3, cloneMs: t1 - t0, verifyMs: t2 - t1, totalMs: t2 - t0 };
        results.push(row);
        console.log(
          `  ${row.grants} grants on ${tables} tables: clone ${row.cloneMs} ms + parity ${row.verifyMs} ms = ${row.totalMs} ms`,
        );
        await engine.dropLogin(clone, fx.login);
      } finally {
        await engine.close();
      }
    } finally {
      await fx.cleanup();
    }
  }
  mkdirSync('reports', { recursive: true });
  writeFileSync(
    join('reports', 'bench-privilege-clone.json'),
    JSON.stringify({ engine: 'postgres', results }, null, 2),
  );
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
