/**
 * MariaDB GTID replicas (issue 13): an account change made on the primary
 * reaches a replica when the replica has applied the primary's binary-log
 * GTID position taken after the change (@@gtid_binlog_pos on the primary;
 * MASTER_GTID_WAIT(pos, 0) on the replica answers at once: 0 = applied).
 * MySQL's GTIDs differ (@@gtid_executed, WAIT_FOR_EXECUTED_GTID_SET); only
 * MariaDB is covered here.
 */
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import type { EngineConnection } from '../types';
import type { NodeProgress, ReplicationTopology } from '../topology';
import { connectionTls, mysqlTlsOptions } from '../tls';
import { ownConnections } from '../own-connection';

async function connectAdmin(conn: EngineConnection): Promise<Connection> {
  const ssl = mysqlTlsOptions(connectionTls(conn), conn.host);
  const c = await createConnection({
    host: conn.host,
    port: conn.port,
    user: conn.admin.username,
    password: conn.admin.password,
    connectTimeout: conn.connectTimeoutMs ?? 10_000,
    ...(ssl ? { ssl: ssl as never } : {}),
  });
  c.on('error', () => undefined);
  return c;
}

/** Runs `fn` on an admin connection of its own to `conn` (a primary or a replica). */
const withAdmin = ownConnections(connectAdmin, (c) => c.end());

export const mysqlReplicas: ReplicationTopology = {
  waitsFor: "it has applied the primary's @@gtid_binlog_pos after the change (MASTER_GTID_WAIT)",

  async primaryPosition(primary) {
    return withAdmin(primary, async (c) => {
      const [rows] = await c.query<RowDataPacket[]>('SELECT @@log_bin AS log_bin, @@gtid_binlog_pos AS pos');
      if (Number(rows[0]!.log_bin) !== 1) {
        throw new Error('the primary writes no binary log: its changes cannot reach a replica');
      }
      return String(rows[0]!.pos);
    });
  },

  async progress(node, position): Promise<NodeProgress> {
    return withAdmin(node, async (c) => {
      const [rows] = await c.query<RowDataPacket[]>(
        'SELECT MASTER_GTID_WAIT(?, 0) AS waited, @@gtid_slave_pos AS applied',
        [position],
      );
      const [status] = await c.query<RowDataPacket[]>('SHOW SLAVE STATUS');
      const s = status[0];
      const sql = s
        ? ` (SQL thread ${String(s.Slave_SQL_Running)}, IO thread ${String(s.Slave_IO_Running)})`
        : ' (not a replica)';
      const caughtUp = Number(rows[0]!.waited) === 0;
      const applied = String(rows[0]!.applied);
      const lag = caughtUp ? '' : `, ${transactionsBehind(applied, position)} transaction(s) behind`;
      return { caughtUp, detail: `applied ${applied || 'nothing'} of ${position}${lag}${sql}` };
    });
  },
};

/**
 * How many transactions `applied` lacks of `position` (both GTID lists
 * "domain-server-seq,…"): per replication domain, the primary's sequence
 * number minus the replica's (MariaDB numbers each domain's transactions
 * consecutively).
 */
export function transactionsBehind(applied: string, position: string): number {
  const seqByDomain = (list: string) =>
    new Map(
      list
        .split(',')
        .map((g) => g.trim().split('-'))
        .filter((p) => p.length === 3)
        .map(([domain, , seq]) => [domain!, Number(seq)]),
    );
  const have = seqByDomain(applied);
  let behind = 0;
  for (const [domain, seq] of seqByDomain(position)) behind += Math.max(0, seq - (have.get(domain) ?? 0));
  return behind;
}
