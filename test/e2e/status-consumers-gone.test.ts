import { describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { HeartbeatReporter } from '../../src/consumer/heartbeat';
import { readRotation } from '../../src/rotation-view';
import type { RotationStatus } from '../../src/shared/types';
import { addPgAppWithAdmin } from '../helpers/pg-app';
import { uniqueSuffix } from '../helpers/services';
import { withPgRig } from '../helpers/with-pg-rig';

// Reviewer finding left from #11: the memo's "gone" flags (a consumer silent
// for longer than the expiry) were computed only when the workflow woke up,
// so `status` went on showing a dead consumer as live through a grace period.
// status computes them when it reads, from the heartbeats in the run's
// history, and adds nothing to that history.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EXPIRY_MS = 2_000;
const PERIOD_MS = 250;
/** A long grace (the silent consumer must show gone during it); consumers found within a second. */
const TIMING = {
  graceMs: 600_000,
  drainTimeoutMs: 0,
  migrationTimeoutMs: 60_000,
  consumerDiscoveryMs: 1_000,
  consumerExpiryMs: EXPIRY_MS,
};

async function waitFor(h: WorkflowHandle, ok: (s: RotationStatus) => boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const s = (await h.describe()).memo?.status as RotationStatus | undefined;
    if (s && ok(s)) return;
    await sleep(100);
  }
  throw new Error('rotation never got there');
}

describe('status shows consumers gone when they are, not when the workflow last woke', () => {
  const t = withPgRig();

  it('a silent consumer shows gone after the expiry; one still reporting does not', async () => {
    // The slow check gives consumers time to announce themselves before promote.
    const { id: credentialId } = await addPgAppWithAdmin(t.rig, t.pg, 'gone', {
      verifyChecks: ['SELECT pg_sleep(0.5)'],
    });
    const prefix = `gone-${uniqueSuffix()}`;
    const reporter = (name: string) =>
      new HeartbeatReporter({
        client: t.rig.client,
        credentialId,
        consumerId: `${prefix}-${name}`,
        periodMs: PERIOD_MS,
        confirmByQuery: false, // one report per period, whatever the phase
      });
    const quiet = reporter('quiet');
    const chatty = reporter('chatty');
    quiet.setVersion(1);
    chatty.setVersion(1);
    quiet.start();
    chatty.start();
    try {
      const h = await t.rig.start({ credentialId, ...TIMING });
      await waitFor(h, (s) => s.phase === 'migrate' && s.consumers.length === 2);
      quiet.setVersion(2);
      chatty.setVersion(2);
      await waitFor(h, (s) => s.phase === 'grace');
      await quiet.stop();

      // The chatty one keeps the workflow waking up, so its memo is fresh; its lastSeen in the
      // memo is not (heartbeats that change nothing are not published): it must not show gone.
      await sleep(EXPIRY_MS + 1_000);
      let view = await readRotation(t.rig.client, credentialId);
      const byId = (v: typeof view, name: string) =>
        v.status!.consumers.find((c) => c.consumerId === `${prefix}-${name}`)!;
      expect(byId(view, 'quiet').gone).toBe(true);
      expect(byId(view, 'chatty').gone).toBeFalsy();
      expect(Date.now() - Date.parse(byId(view, 'chatty').lastSeen)).toBeLessThan(EXPIRY_MS);

      // Now nothing wakes the workflow: the memo is as of the chatty one's last heartbeat.
      await chatty.stop();
      const before = (await h.fetchHistory()).events?.length;
      await sleep(EXPIRY_MS + 1_000);
      view = await readRotation(t.rig.client, credentialId);
      expect(view.phase).toBe('grace');
      expect(byId(view, 'chatty').gone).toBe(true);
      expect((await h.fetchHistory()).events?.length).toBe(before); // read time only: no history
      await h.executeUpdate('finishGrace', { args: [{ reason: 'test done' }] });
      await h.result();
    } finally {
      await quiet.stop();
      await chatty.stop();
    }
  });
});
