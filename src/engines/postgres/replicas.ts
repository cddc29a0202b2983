/**
 * PostgreSQL streaming replicas (issue 13): a role created, altered or
 * dropped on the primary reaches a hot standby when the standby has replayed
 * the WAL up to the primary's insert position taken after the change. Both
 * are read with the admin over a short-lived connection of its own.
 */
import { Client } from 'pg';
import type { EngineConnection } from '../types';
import type { NodeProgress, ReplicationTopology } from '../topology';
import { connectionTls, nodeTlsOptions } from '../tls';
import { ownConnections } from '../own-connection';

async function connectAdmin(conn: EngineConnection): Promise<Client> {
  const client = new Client({
    host: conn.host,
    port: conn.port,
    database: conn.database ?? 'postgres',
    user: conn.admin.username,
    password: conn.admin.password,
    ssl: nodeTlsOptions(connectionTls(conn)) ?? false,
    connectionTimeoutMillis: conn.connectTimeoutMs ?? 10_000,
    application_name: 'db-rotator',
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Runs `fn` on an admin connection of its own to `conn` (a primary or a replica). */
const withAdmin = ownConnections(connectAdmin, (c) => c.end());

export const postgresReplicas: ReplicationTopology = {
  waitsFor: "its replay LSN ≥ the primary's insert LSN after the change",

  async primaryPosition(primary) {
    return withAdmin(primary, async (c) => {
      const { rows } = await c.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      return rows[0]!.lsn;
    });
  },

  async progress(node, position): Promise<NodeProgress> {
    return withAdmin(node, async (c) => {
      const { rows } = await c.query<{
        standby: boolean;
        replayed: string | null;
        caught_up: boolean | null;
        paused: boolean | null;
        behind: string | null;
      }>(
        `SELECT pg_is_in_recovery() AS standby,
                pg_last_wal_replay_lsn()::text AS replayed,
                pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught_up,
                CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused,
                pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::bigint::text AS behind`,
        [position],
      );
      const r = rows[0]!;
      // A node that is not a standby (a promoted replica, another primary) never replays ours.
      if (!r.standby) return { caughtUp: false, detail: 'is not a standby (pg_is_in_recovery() is false)' };
      const paused = r.paused ? ' (replay paused)' : '';
      const caughtUp = r.caught_up === true;
      // WAL bytes still to replay up to our position: how far behind, not how long it will take.
      const lag = !caughtUp && r.behind !== null ? `, ${r.behind} bytes behind` : '';
      return { caughtUp, detail: `replayed ${r.replayed ?? 'nothing'} of ${position}${lag}${paused}` };
    });
  },
};
