/**
 * `db-rotator store …`: maintenance of the credential store by a key holder.
 *
 *   store sign <credential> | --all   sign records a build without record
 *                                     signing wrote (after checking them)
 *   store rotate-key                  re-encrypt every secret and re-sign every
 *                                     record with the active store key
 *   store purge-revoked [--retention] delete secrets of versions revoked
 *                                     longer ago than the retention (7d)
 *
 * Every change is audited in the store (who: ROTATOR_ACTOR / $USER).
 */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_REVOKED_RETENTION_MS } from '../../store/base-store';
import { withStore } from '../context';
import { durationOption } from '../options';

/** The audit "credential id" of store-wide operations. */
export const STORE_AUDIT_ID = '(store)';

export function registerStoreCommands(program: Command): void {
  const store = program
    .command('store')
    .description('credential store maintenance (needs the store keyring)');

  store
    .command('sign [credential]')
    .description(
      'sign definitions and versions written before records were signed (check them first: credentials show)',
    )
    .option('--all', 'every credential in the store')
    .action(async (credentialId: string | undefined, opts: { all?: boolean }) => {
      if (!credentialId === !opts.all) throw new InvalidArgumentError('give a credential id or --all');
      await withStore(async (s, cfg) => {
        const n = await s.signUnsigned(cfg.actor, credentialId);
        console.log(`signed ${n} record(s)`);
      });
    });

  store
    .command('rotate-key')
    .description(
      'after putting a new key first in ROTATOR_STORE_KEYS (old keys after it): re-encrypt every secret and re-sign every record with it',
    )
    .action(async () => {
      await withStore(async (s, cfg) => {
        const n = await s.reencryptSecrets(cfg.actor);
        const active = cfg.storeKeyring.activeKeyId;
        const retired = Object.keys(cfg.storeKeyring.keys).filter((k) => k !== active);
        await s.audit({
          actor: cfg.actor,
          credentialId: STORE_AUDIT_ID,
          action: 'rotate-store-key',
          details: { toKeyId: active, reencrypted: n, retiredKeyIds: retired },
        });
        console.log(`re-encrypted ${n} secret(s) and re-signed every record with key "${active}"`);
        if (retired.length > 0) {
          console.log(
            `no record needs ${retired.map((k) => `"${k}"`).join(', ')} any more: remove it from ROTATOR_STORE_KEYS of every worker and operator`,
          );
        }
      });
    });

  store
    .command('purge-revoked')
    .description('delete the secrets of versions revoked longer ago than the retention (default 7d)')
    .option('--retention <duration>', 'how long a revoked secret is kept', durationOption('12h, 7d, 30d'))
    .action(async (opts: { retention?: number }) => {
      await withStore(async (s, cfg) => {
        const n = await s.purgeRevokedSecrets(
          cfg.actor,
          opts.retention ?? cfg.revokedRetentionMs ?? DEFAULT_REVOKED_RETENTION_MS,
        );
        console.log(`purged ${n} revoked secret(s)`);
      });
    });
}
