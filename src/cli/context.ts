/**
 * The two resources a command opens — the credential store and a Temporal
 * client — each opened from the configuration and closed whatever happens.
 */
import type { Client } from '@temporalio/client';
import { loadConfig, type RotatorConfig } from '../config';
import { connectClient, openConfiguredStore } from '../runtime';
import { rotationWorkflowId } from '../shared/constants';
import type { ManagedCredentialStore } from '../store';

/** Runs `fn` with the configured store open; `cfg` defaults to the configuration now. */
export function withStore<T>(
  fn: (store: ManagedCredentialStore, cfg: RotatorConfig) => Promise<T>,
  cfg: RotatorConfig = loadConfig(),
): Promise<T> {
  return using(
    () => openConfiguredStore(cfg),
    (store) => store.close(),
    (store) => fn(store, cfg),
  );
}

/** Runs `fn` with a connected Temporal client; `cfg` defaults to the configuration now. */
export function withClient<T>(
  fn: (client: Client, cfg: RotatorConfig) => Promise<T>,
  cfg: RotatorConfig = loadConfig(),
): Promise<T> {
  return using(
    () => connectClient(cfg),
    (client) => client.connection.close(),
    (client) => fn(client, cfg),
  );
}

/** Opens a resource, runs `fn` with it and closes it whatever happens. */
async function using<R, T>(
  open: () => Promise<R>,
  close: (resource: R) => Promise<void>,
  fn: (resource: R) => Promise<T>,
): Promise<T> {
  const resource = await open();
  try {
    return await fn(resource);
  } finally {
    await close(resource);
  }
}

/** The (fixed-id) rotation workflow of a credential. */
export function rotationHandle(client: Client, credentialId: string) {
  return client.workflow.getHandle(rotationWorkflowId(credentialId));
}
