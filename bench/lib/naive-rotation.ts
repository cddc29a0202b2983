/**
 * The seed sketches' rotation, as the baseline the bench compares against:
 * create a new user with the same grants, publish it, sleep 5 s, terminate
 * the old user's sessions and drop it. No grace period, no drain, no
 * heartbeats: instances that have not re-read the credential yet lose their
 * sessions and their logins.
 */
import { escapeIdentifier, escapeLiteral } from 'pg';
import { generatePassword } from '../../src/engines/password';
import type { CredentialStore } from '../../src/store/types';
import type { PgFixture } from './pg-fixture';

export interface NaiveTimeline {
  startedAt: number;
  publishedAt: number;
  droppedAt: number;
  fromVersion: number;
  toVersion: number;
  terminatedSessions: number;
}

export async function naiveRotate(
  fixture: PgFixture,
  store: CredentialStore,
  credentialId: string,
  opts: { sleepMs?: number } = {},
): Promise<NaiveTimeline> {
  const startedAt = Date.now();
  const db = fixture.admin;
  const current = await store.getSecret(credentialId, 'CURRENT');
  const newUser = current.username.endsWith('_b') ? current.username.slice(0, -2) : `${current.username}_b`;
  const password = generatePassword();
  await db.query(`CREATE ROLE ${escapeIdentifier(newUser)} LOGIN PASSWORD ${escapeLiteral(password)}`);
  await fixture.grantApp(newUser);
  const toVersion = current.version + 1;
  await store.createPending(credentialId, toVersion, newUser, () => password, 'naive-rotation');
  await store.promote(credentialId, toVersion, 'naive-rotation');
  const publishedAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, opts.sleepMs ?? 5_000));
  const old = escapeIdentifier(current.username);
  const terminate = () =>
    db.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE usename = $1`,
      [current.username],
    );
  const { rows } = await terminate();
  await db.query(`DROP OWNED BY ${old}`);
  await db.query(`DROP ROLE ${old}`);
  const again = await terminate(); // sessions that logged in between terminate and drop
  const droppedAt = Date.now();
  await store.markRevoked(credentialId, current.version, 'naive-rotation');
  return {
    startedAt,
    publishedAt,
    droppedAt,
    fromVersion: current.version,
    toVersion,
    terminatedSessions: (rows[0]?.n ?? 0) + (again.rows[0]?.n ?? 0),
  };
}
