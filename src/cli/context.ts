/**
 * The two resources a command opens — the credential store and a Temporal
 * client — each opened from the configuration and closed whatever happens.
 */
import type { Client } from '@temporalio/client';
import { loadConfig, type RotatorConfig } from '../config';
import { connectClient, openConfiguredStore } from '../runtime';
import { rotationWorkflowId } from '../shared/constants';

/** Runs `fn` with the configured store open; `cfg` defaults to the configuration now. */
export const withStore = resource(openConfiguredStore, (store) => store.close());

/** Runs `fn` with a connected Temporal client; `cfg` defaults to the configuration now. */
export const withClient = resource(connectClient, (client) => client.connection.close());

/**
 * A `with…` helper for one resource: opens it from the configuration, runs
 * `fn` with it and closes it whatever happens.
 */
function resource<R>(open: (cfg: RotatorConfig) => Promise<R>, close: (resource: R) => Promise<void>) {
  return async <T>(
    fn: (resource: R, cfg: RotatorConfig) => Promise<T>,
    cfg: RotatorConfig = loadConfig(),
  ): Promise<T> => {
    const opened = await open(cfg);
    try {
      return await fn(opened, cfg);
    } finally {
      await close(opened);
    }
  };
}

/** The (fixed-id) rotation workflow of a credential. */
export function rotationHandle(client: Client, credentialId: string) {
  return client.workflow.getHandle(rotationWorkflowId(credentialId));
}
