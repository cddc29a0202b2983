import type { Logger } from 'pino';
import type { ManagedCredentialStore } from './store';

const EVERY_MS = 60 * 60 * 1000;

/**
 * The worker deletes secrets of versions revoked longer ago than the
 * retention (config revokedRetentionMs / ROTATOR_REVOKED_RETENTION_MS,
 * default 7 days): at start and hourly. Each purge is audited by the store.
 * Returns a stop function.
 */
export function startRevokedPurge(
  store: ManagedCredentialStore,
  retentionMs: number,
  log: Pick<Logger, 'info' | 'warn'>,
): () => void {
  const run = () =>
    store.purgeRevokedSecrets('worker', retentionMs).then(
      (n) => n > 0 && log.info({ purged: n, retentionMs }, 'purged secrets of revoked versions'),
      (err: unknown) =>
        log.warn(
          { error: err instanceof Error ? err.message : String(err) },
          'purging revoked secrets failed',
        ),
    );
  void run();
  const timer = setInterval(() => void run(), EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
