import type { RotatorConfig } from '../config';
import { openConfiguredStore } from '../runtime';
import { firstRunAt, lastRotatedAt } from '../schedules';

/** The period (flag or the policy's rotateEveryDays) and first run of a credential's schedule. */
export async function scheduleStart(
  cfg: RotatorConfig,
  credentialId: string,
  everyDaysFlag: number | undefined,
): Promise<{ everyDays: number; firstRunAt: Date }> {
  const store = await openConfiguredStore(cfg);
  try {
    const def = await store.getDefinition(credentialId);
    const everyDays = everyDaysFlag ?? def.policy.rotateEveryDays;
    return { everyDays, firstRunAt: firstRunAt(await lastRotatedAt(store, credentialId), everyDays) };
  } finally {
    await store.close();
  }
}
