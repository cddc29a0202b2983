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
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { msToNumber } from '@temporalio/common/lib/time';
import { loadConfig } from '../config';
import { ConfigError } from '../errors';
import { openConfiguredStore } from '../runtime';
import { parseCredentialDefinition, type CredentialDefinition } from '../store';
import { DEFAULT_REVOKED_RETENTION_MS } from '../store/base-store';

/** The audit "credential id" of store-wide operations. */
export const STORE_AUDIT_ID = '(store)';

function duration(value: string): number {
  try {
    const ms = /^\d+$/.test(value) ? Number(value) : msToNumber(value as never);
    if (!Number.isFinite(ms) || ms < 0) throw new Error();
    return ms;
  } catch {
    throw new InvalidArgumentError(`not a duration: "${value}" (examples: 12h, 7d, 30d)`);
  }
}

/**
 * Reads a definition file. Errors name the file and the problem, never its
 * content: JSON.parse's own message quotes the text around the error, and a
 * definition file may hold a pasted secret by mistake.
 */
export function readDefinitionFile(file: string): CredentialDefinition {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message)?.[1];
    let where = '';
    if (pos !== undefined) {
      const before = text.slice(0, Number(pos));
      const line = before.split('\n').length;
      where = ` (line ${line}, column ${Number(pos) - before.lastIndexOf('\n')})`;
    }
    throw new ConfigError(`${file} is not valid JSON${where}`);
  }
  return parseCredentialDefinition(json);
}

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
      const cfg = loadConfig();
      const s = await openConfiguredStore(cfg);
      try {
        const n = await s.signUnsigned(cfg.actor, credentialId);
        console.log(`signed ${n} record(s)`);
      } finally {
        await s.close();
      }
    });

  store
    .command('rotate-key')
    .description(
      'after putting a new key first in ROTATOR_STORE_KEYS (old keys after it): re-encrypt every secret and re-sign every record with it',
    )
    .action(async () => {
      const cfg = loadConfig();
      const s = await openConfiguredStore(cfg);
      try {
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
      } finally {
        await s.close();
      }
    });

  store
    .command('purge-revoked')
    .description('delete the secrets of versions revoked longer ago than the retention (default 7d)')
    .option('--retention <duration>', 'how long a revoked secret is kept', duration)
    .action(async (opts: { retention?: number }) => {
      const cfg = loadConfig();
      const s = await openConfiguredStore(cfg);
      try {
        const n = await s.purgeRevokedSecrets(
          cfg.actor,
          opts.retention ?? cfg.revokedRetentionMs ?? DEFAULT_REVOKED_RETENTION_MS,
        );
        console.log(`purged ${n} revoked secret(s)`);
      } finally {
        await s.close();
      }
    });
}
