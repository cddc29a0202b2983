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
export async function withStore<T>(
  fn: (store: ManagedCredentialStore, cfg: RotatorConfig) => Promise<T>,
  cfg: RotatorConfig = loadConfig(),
): Promise<T> {
  const store = await openConfiguredStore(cfg);
  try {
    return await fn(store, cfg);
  } finally {
    await store.close();
  }
}

/** Runs `fn` with a connected Temporal client; `cfg` defaults to the configuration now. */
export async function withClient<T>(
  fn: (client: Client, cfg: RotatorConfig) => Promise<T>,
  cfg: RotatorConfig = loadConfig(),
): Promise<T> {
  const client = await connectClient(cfg);
  try {
    return await fn(client, cfg);
  } finally {
    await client.connection.close();
  }
}

/** The (fixed-id) rotation workflow of a credential. */
export function rotationHandle(client: Client, credentialId: string) {
  return client.workflow.getHandle(rotationWorkflowId(credentialId));
}
