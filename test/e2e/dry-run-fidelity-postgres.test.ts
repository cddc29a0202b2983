/**
 * Reviewer attack on the dry-run recording seam: does `rotate --dry-run`
 * list the statements a real rotation then runs? On the shared PostgreSQL
 * the test's own admin role logs its statements (ALTER ROLE … SET
 * log_statement, that role only), and the server log's lines naming the
 * test's login are compared with the dry run's apply and revoke lists.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { EXIT, type DryRunReport } from '../../src/client';
import { runCli } from '../helpers/cli';
import { addPgAppWithAdmin } from '../helpers/pg-app';
import { services, uniqueSuffix } from '../helpers/services';
import { withPgRig } from '../helpers/with-pg-rig';

// The shared server's log (scripts/services/postgres.sh writes it under the state directory).
const PG_LOG = join(services.stateDir, 'log', 'postgres.log');

/** One statement per line, passwords/verifiers redacted, whitespace collapsed. */
function normal(s: string): string {
  return s
    .replace(/PASSWORD\s+'[^']*'/gi, 'PASSWORD <redacted>')
    .replace(/\s+/g, ' ')
    .replace(/;\s*$/, '')
    .trim();
}

async function logSince(offset: number): Promise<string> {
  const fh = await fs.open(PG_LOG, 'r');
  try {
    const buf = Buffer.alloc((await fs.stat(PG_LOG)).size - offset);
    await fh.read(buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** The changing statements in a server log excerpt (that name `login`, if given); reads left out, a terminate is a change. */
function changes(log: string, login?: string): string[] {
  const out: string[] = [];
  // A statement and its continuation lines (they start with a tab).
  for (const chunk of log.split(/\n(?!\t)/)) {
    // Simple protocol ("statement:") and extended ("execute <name>:", parameters on a DETAIL line).
    const m = /LOG:\s+(?:statement|execute [^:]*): ([\s\S]*)$/.exec(chunk);
    if (!m || (login !== undefined && !m[1]!.includes(login))) continue;
    // Several statements may travel as one query.
    for (const one of m[1]!
      .replace(/--[^\n]*/g, '')
      .split(/;\s+/)
      .map(normal)) {
      if (!/^(SELECT|WITH|SHOW|BEGIN|COMMIT|ROLLBACK|SET )/i.test(one) || /pg_terminate_backend/.test(one))
        out.push(one);
    }
  }
  return out;
}

describe('dry run vs real rotation on PostgreSQL', () => {
  const t = withPgRig();

  it('the dry run lists every statement the real rotation runs', async () => {
    const adminRole = `rev_admin_${uniqueSuffix().replace(/\W/g, '_')}`.toLowerCase();
    const adminPw = `Adm-${uniqueSuffix()}-pw`;
    await t.pg.admin.query(
      `CREATE ROLE ${escapeIdentifier(adminRole)} LOGIN CREATEROLE SUPERUSER PASSWORD ${escapeLiteral(adminPw)}`,
    );
    await t.pg.admin.query(`ALTER ROLE ${escapeIdentifier(adminRole)} SET log_statement = 'all'`);
    try {
      const admin = { login: { username: adminRole, password: adminPw } };
      const { id, login: app } = await addPgAppWithAdmin(
        t.rig,
        t.pg,
        'dry-fidelity',
        { strategy: 'dual-user' },
        admin,
      );
      await t.pg.admin.query(`CREATE TABLE items (id int)`);
      await t.pg.admin.query(`GRANT SELECT, INSERT ON items TO ${escapeIdentifier(app)}`);
      const beforeDry = (await fs.stat(PG_LOG)).size;
      const dry = await runCli(['rotate', id, '--dry-run', '--json'], t.rig.env);
      expect(dry.code, dry.err).toBe(EXIT.ok);
      const report = JSON.parse(dry.out) as DryRunReport;
      // The dry run's own statements (only this admin logs its statements): not one change.
      const dryLog = await logSince(beforeDry);
      expect(dryLog).toMatch(/LOG:\s+(statement|execute [^:]*): SELECT/); // it did read, and is logged
      expect(changes(dryLog)).toEqual([]);
      const from = (await fs.stat(PG_LOG)).size;
      const result = await t.rig.rotate({
        credentialId: id,
        graceMs: 500,
        drainTimeoutMs: 0,
        requestedBy: 'test',
      });
      expect(result.outcome).toBe('rotated');
      const ran = changes(await logSince(from), app);
      const listed = [...report.statements.apply, ...report.statements.revoke].map(normal);
      expect(ran.length).toBeGreaterThan(5);
      // Everything the rotation ran was listed, and everything listed ran (the session ends only
      // run when the login has sessions; here it has none).
      expect(ran.filter((s) => !listed.includes(s))).toEqual([]);
      expect(listed.filter((s) => !ran.includes(s) && !/pg_terminate_backend/.test(s))).toEqual([]);
    } finally {
      await t.pg.admin.query(`DROP OWNED BY ${escapeIdentifier(adminRole)}`).catch(() => undefined);
      await t.pg.admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(adminRole)}`).catch(() => undefined);
    }
  });
});
