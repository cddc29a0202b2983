/**
 * Reviewer attack on the dry-run recording seam, MariaDB: does `rotate
 * --dry-run` list the account statements a real rotation then runs, and
 * does the dry run write nothing? Read from the shared server's binary log
 * (SHOW BINLOG EVENTS: account statements are logged as statements; read
 * only, no setting changed), filtered to the test's own logins.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { escape, escapeId, type RowDataPacket } from 'mysql2/promise';
import { EXIT, type DryRunReport } from '../../src/client';
import { runCli } from '../helpers/cli';
import { freshMysql, type MysqlNamespace } from '../helpers/mysql';
import { addMysqlAdmin } from '../helpers/mysql-app';
import { uniqueCredentialId } from '../helpers/rotation';
import { withRotationRig } from '../helpers/with-pg-rig';

/** One statement, hashes and passwords redacted, whitespace collapsed, no `use db;` prefix. */
function normal(s: string): string {
  return s
    .replace(/^use `[^`]*`;\s*/i, '')
    .replace(/(PASSWORD|AS|BY|USING)\s*(\(\s*)?'[^']*'(\s*\))?/gi, '$1 <redacted>')
    .replace(/\s+/g, ' ')
    .trim();
}

describe('dry run vs real rotation on MariaDB (binary log)', () => {
  const t = withRotationRig();
  let ns: MysqlNamespace | undefined;
  afterEach(async () => {
    await ns?.cleanup();
  });

  async function binlogSince(m: MysqlNamespace, from: { file: string; pos: number }, login: string) {
    const out: string[] = [];
    const [logs] = await m.admin.query<RowDataPacket[]>('SHOW BINARY LOGS');
    const files = logs.map((l) => String(l.Log_name)).filter((f) => f >= from.file);
    for (const file of files) {
      const [events] = await m.admin.query<RowDataPacket[]>(
        `SHOW BINLOG EVENTS IN ${escape(file)}${file === from.file ? ` FROM ${Number(from.pos)}` : ''}`,
      );
      for (const e of events) {
        const info = String(e.Info ?? '');
        if (e.Event_type === 'Query' && info.includes(login)) out.push(normal(info));
      }
    }
    return out;
  }

  async function position(m: MysqlNamespace) {
    const [rows] = await m.admin.query<RowDataPacket[]>('SHOW MASTER STATUS');
    return { file: String(rows[0]!.File), pos: Number(rows[0]!.Position) };
  }

  it.each(['dual-password', 'dual-user'] as const)(
    '%s: the dry run writes nothing and lists what the rotation runs',
    async (strategy) => {
      ns = await freshMysql();
      const { rig } = t;
      const { adminId, where } = await addMysqlAdmin(rig, ns);
      await ns.admin.query(`CREATE TABLE ${escapeId(ns.database)}.orders (id int)`);
      const password = 'Init-app-Pw-123';
      const login = await ns.createLogin('app', password);
      await ns.admin.query(`GRANT SELECT, INSERT ON ${escapeId(ns.database)}.orders TO ${escape(login)}@'%'`);
      const id = uniqueCredentialId('mysql-fidelity');
      await rig.addCredential(
        { id, ...where, adminCredentialId: adminId, baseUsername: login, strategy },
        { username: login, password },
      );

      const beforeDry = await position(ns);
      const dry = await runCli(['rotate', id, '--dry-run', '--json'], rig.env);
      expect(dry.code, dry.err).toBe(EXIT.ok);
      const report = JSON.parse(dry.out) as DryRunReport;
      expect(await binlogSince(ns, beforeDry, login)).toEqual([]);

      const from = await position(ns);
      const result = await rig.rotate({
        credentialId: id,
        graceMs: 500,
        drainTimeoutMs: 0,
        requestedBy: 'test',
      });
      expect(result.outcome).toBe('rotated');
      const ran = await binlogSince(ns, from, login);
      const listed = [...report.statements.apply, ...report.statements.revoke].map(normal);
      expect(ran.length).toBeGreaterThan(0);
      expect(ran.filter((s) => !listed.includes(s))).toEqual([]);
      expect(listed.filter((s) => !ran.includes(s) && !/^KILL/i.test(s))).toEqual([]);
    },
  );
});
