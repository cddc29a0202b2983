import type { FleetSelector } from './types';

export interface FleetActivities {
  /** Ids of the credentials that match the selector (sorted, no secrets). */
  selectCredentials(selector: FleetSelector): Promise<string[]>;
}
