import type { PoolConfig } from 'pg';
import { ConfigError } from '../errors';
import type { ManagedCredentialStore } from './base-store';
import type { SecretCipher } from './crypto';
import { openFileBackend } from './migrate-file-store';
import { PgStore } from './pg-store';

export type StoreConfig =
  | { backend: 'file'; path: string }
  | { backend: 'postgres'; connectionString?: string; pool?: PoolConfig; schema?: string };

/**
 * Opens the configured credential store. The file backend (a directory, one
 * file per credential; a format-1 single file there is migrated first, see
 * migrate-file-store.ts) checks its layout right away; the postgres backend connects and creates its tables on first
 * use (so a worker can start while the database is still coming up).
 */
export async function openStore(config: StoreConfig, cipher: SecretCipher): Promise<ManagedCredentialStore> {
  switch (config.backend) {
    case 'file':
      return openFileBackend(config.path, cipher);
    case 'postgres':
      return PgStore.fromConfig(config, cipher);
    default:
      throw new ConfigError(
        `unknown credential store backend "${String((config as { backend?: unknown }).backend)}" (expected file or postgres)`,
      );
  }
}

export type * from './types';
export type { ManagedCredentialStore } from './base-store';
export { SecretCipher, SecretDecryptError, parseKeyring, generateKeyBase64 } from './crypto';
export type { Keyring, SecretContext } from './crypto';
export {
  parseCredentialDefinition,
  credentialDefinitionSchema,
  CREDENTIAL_ID_RE,
  DEFAULT_ROTATE_EVERY_DAYS,
} from './schema';
export { nextVersion } from './transitions';
export { FileStore } from './file-store';
export type { FileStoreOptions } from './file-store';
export { DirStore } from './dir-store';
export type { DirStoreOptions } from './dir-store';
export { openFileBackend } from './migrate-file-store';
export { PgStore } from './pg-store';
export type { PgStoreOptions } from './pg-store';
