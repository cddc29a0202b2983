import type { WindowActivities } from '../shared/window-activities';
import { hasWindowRules } from '../shared/windows';
import type { CredentialStore } from '../store/types';

/** Reads a credential's windows for the launchers (they compute the wait in workflow time). */
export function createWindowActivities(store: CredentialStore): WindowActivities {
  return {
    async rotationWindow(credentialId) {
      const { policy } = await store.getDefinition(credentialId);
      const window = { windows: policy.windows, freezes: policy.freezes };
      return hasWindowRules(window) ? window : undefined;
    },
  };
}
