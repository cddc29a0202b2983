/**
 * What an operator of the naive rotation does by hand when applications read
 * the credential from delivery targets: after publishing the new version,
 * copy it to every target of the definition (file: the new version becomes
 * current; PgBouncer: the new login's line is added); after dropping the old
 * login, clean up after it (PgBouncer: its line goes). The same delivery
 * activities the workflow runs, called directly, without any of its
 * ordering or waiting.
 */
import { createDeliveryActivities } from '../../src/activities/delivery';
import type { RotationPlan } from '../../src/shared/types';
import type { CredentialStore } from '../../src/store/types';

/** The naive rotation's `afterPublish` / `afterDrop` hooks for a credential with delivery targets. */
export function naiveTargetHooks(store: CredentialStore, credentialId: string) {
  const delivery = createDeliveryActivities({ store });
  // What the delivery activities read of a plan: the step from CURRENT - 1 to CURRENT.
  const plan = async (): Promise<RotationPlan> => {
    const def = await store.getDefinition(credentialId);
    const to = await store.getSecret(credentialId, 'CURRENT');
    const from = await store.getSecret(credentialId, to.version - 1);
    return {
      credentialId,
      strategy: def.strategy === 'auto' ? 'dual-user' : def.strategy,
      fromVersion: from.version,
      fromUsername: from.username,
      toVersion: to.version,
      toUsername: to.username,
    } as RotationPlan;
  };
  return {
    afterPublish: async () => delivery.deliverCurrent(await plan()),
    afterDrop: async () => delivery.deliverRemoveOld(await plan()),
  };
}
