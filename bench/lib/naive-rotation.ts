/**
 * The seed sketches' rotation, as the baseline the bench compares against,
 * on any engine of ./engines:
 * - dual-user: create a new login with the same grants, publish it, sleep
 *   5 s, end the old login's sessions and drop it;
 * - dual-password: replace the login's password and publish it (one
 *   password at a time: nothing keeps the old one valid).
 * No grace period, no drain, no heartbeats: instances that have not re-read
 * the credential yet lose their sessions and their logins.
 */
import { generatePassword } from '../../src/engines/password';
import type { ResolvedStrategy } from '../../src/shared/types';
import type { CredentialStore } from '../../src/store/types';
import type { EngineFixture } from './engines/types';

export interface NaiveTimeline {
  startedAt: number;
  publishedAt: number;
  /** When the old credential stopped working (old login dropped, or password replaced). */
  droppedAt: number;
  fromVersion: number;
  toVersion: number;
  terminatedSessions: number;
}

export async function naiveRotate(
  fixture: EngineFixture,
  store: CredentialStore,
  credentialId: string,
  opts: {
    strategy: ResolvedStrategy;
    sleepMs?: number;
    /** Runs after the new version is published (e.g. copy it to delivery targets by hand). */
    afterPublish?: () => Promise<void>;
    /** Runs once the old credential is dead (e.g. remove its PgBouncer line). */
    afterDrop?: () => Promise<void>;
  },
): Promise<NaiveTimeline> {
  const startedAt = Date.now();
  const current = await store.getSecret(credentialId, 'CURRENT');
  const toVersion = current.version + 1;
  const password = generatePassword();
  const publish = async (username: string) => {
    await store.createPending(credentialId, toVersion, username, () => password, 'naive-rotation');
    await store.promote(credentialId, toVersion, 'naive-rotation');
    return Date.now();
  };
  let publishedAt: number;
  let droppedAt: number;
  let terminatedSessions = 0;
  if (opts.strategy === 'dual-password') {
    await fixture.setPassword(current.username, password);
    droppedAt = Date.now();
    publishedAt = await publish(current.username);
    await opts.afterPublish?.();
  } else {
    const newUser = current.username.endsWith('_b') ? current.username.slice(0, -2) : `${current.username}_b`;
    await fixture.createLike(newUser, password);
    publishedAt = await publish(newUser);
    await opts.afterPublish?.();
    await new Promise((resolve) => setTimeout(resolve, opts.sleepMs ?? 5_000));
    terminatedSessions = await fixture.dropLogin(current.username);
    droppedAt = Date.now();
  }
  await opts.afterDrop?.();
  await store.markRevoked(credentialId, current.version, 'naive-rotation');
  return {
    startedAt,
    publishedAt,
    droppedAt,
    fromVersion: current.version,
    toVersion,
    terminatedSessions,
  };
}
