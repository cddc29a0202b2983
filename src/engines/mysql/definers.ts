/** DEFINER objects of a MySQL account: views, routines, triggers and events that stop working when it is dropped. */
import { escapeId } from 'mysql2/promise';
import { ConfigError } from '../../errors';
import { describeAccount, type Account } from './accounts';
import type { MysqlConnector } from './connection';

/** Views/routines with SQL SECURITY DEFINER, triggers and events that run as `account` (at most 50). */
export async function definerObjects(db: MysqlConnector, account: Account): Promise<string[]> {
  const definer = `${account.user}@${account.host}`;
  const rows = await db.query(
    `SELECT 'view' AS kind, TABLE_SCHEMA AS db, TABLE_NAME AS name FROM information_schema.VIEWS
      WHERE DEFINER = ? AND SECURITY_TYPE = 'DEFINER'
     UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES
      WHERE DEFINER = ? AND SECURITY_TYPE = 'DEFINER'
     UNION ALL SELECT 'trigger', TRIGGER_SCHEMA, TRIGGER_NAME FROM information_schema.TRIGGERS WHERE DEFINER = ?
     UNION ALL SELECT 'event', EVENT_SCHEMA, EVENT_NAME FROM information_schema.EVENTS WHERE DEFINER = ?
     LIMIT 50`,
    [definer, definer, definer, definer],
    `looking for objects defined by ${describeAccount(account)}`,
  );
  return rows.map(
    (r) => `${String(r.kind)} ${escapeId(String(r.db), true)}.${escapeId(String(r.name), true)}`,
  );
}

/** The refusal for dropping `account` while objects run as it; undefined when none do. */
export async function definerProblem(
  db: MysqlConnector,
  account: Account,
  why: string,
): Promise<ConfigError | undefined> {
  const objects = await definerObjects(db, account);
  if (objects.length === 0) return undefined;
  const count = objects.length >= 50 ? '50 or more' : String(objects.length);
  const shown = `${objects.slice(0, 10).join(', ')}${objects.length > 10 ? ', ...' : ''}`;
  return new ConfigError(
    `${describeAccount(account)} is the DEFINER of ${count} object(s) that stop working when it is dropped (${shown}); ${why}. Use dual-password, or give these objects another DEFINER first`,
  );
}
