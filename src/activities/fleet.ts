import type { CredentialStore } from '../store/types';
import type { FleetActivities } from '../shared/fleet-activities';
import type { FleetSelector } from '../shared/types';
import { UnknownCredentialError } from '../errors';

const DAY_MS = 24 * 60 * 60 * 1000;

export function createFleetActivities(store: CredentialStore, now: () => number = Date.now): FleetActivities {
  return {
    async selectCredentials(selector: FleetSelector): Promise<string[]> {
      const defs = await store.listDefinitions();
      if (selector.ids) {
        const known = new Set(defs.map((d) => d.id));
        const unknown = selector.ids.find((id) => !known.has(id));
        if (unknown !== undefined) throw new UnknownCredentialError(unknown);
      }
      return defs
        .filter((d) => !selector.ids || selector.ids.includes(d.id))
        .filter((d) => !selector.engine || d.engine === selector.engine)
        .filter((d) => Object.entries(selector.labels ?? {}).every(([k, v]) => d.labels[k] === v))
        .filter((d) => {
          if (selector.expiringWithinDays === undefined) return true;
          return (
            d.expiresAt !== undefined &&
            Date.parse(d.expiresAt) - now() <= selector.expiringWithinDays * DAY_MS
          );
        })
        .filter((d) => d.adminCredentialId !== undefined || selector.ids?.includes(d.id))
        .map((d) => d.id)
        .sort();
    },
  };
}
