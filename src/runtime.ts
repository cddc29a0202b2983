import { NativeConnection } from '@temporalio/worker';
import { Connection, Client } from '@temporalio/client';
import { createDeliveryActivities } from './activities/delivery';
import { createPlanningActivities } from './activities/dry-run';
import { createFleetActivities } from './activities/fleet';
import { createRotationActivities } from './activities/rotation';
import { createWindowActivities } from './activities/window';
import { encryptedDataConverter } from './codec';
import type { RotatorConfig } from './config';
import { createEngine } from './engines';
import { temporalConnectionOptions } from './temporal-connection';
import { openStore, SecretCipher, type ManagedCredentialStore } from './store';

/** Opens the configured store with its keyring. */
export function openConfiguredStore(cfg: RotatorConfig): Promise<ManagedCredentialStore> {
  return openStore(cfg.store, new SecretCipher(cfg.storeKeyring));
}

/** The activities with their real dependencies. */
export function productionActivities(store: ManagedCredentialStore, actor = 'worker') {
  const deps = { store, createEngine, actor };
  return {
    ...createRotationActivities(deps),
    ...createPlanningActivities(deps),
    ...createFleetActivities(store),
    ...createWindowActivities(store),
    ...createDeliveryActivities({ store }),
  };
}

/** A Temporal client with the encrypting data converter. */
export async function connectClient(cfg: RotatorConfig): Promise<Client> {
  const connection = await Connection.connect(temporalConnectionOptions(cfg.temporal));
  return new Client({
    connection,
    namespace: cfg.temporal.namespace,
    dataConverter: encryptedDataConverter(cfg.codecKeyring),
  });
}

export function connectWorkerConnection(cfg: RotatorConfig): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(cfg.temporal));
}
