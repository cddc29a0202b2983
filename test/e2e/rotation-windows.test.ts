/**
 * Rotation windows with the real worker activities, real PostgreSQL and the
 * dev server, driven through the CLI: a freeze that covers "now" blocks a
 * manual start (CLI and worker preflight alike), the dry run and `window`
 * show the next window, an explicit override starts anyway and is audited,
 * and the revoke waits until the freeze is over.
 */
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/client';
import type { RotationResult } from '../../src/shared/types';
import { addPgAdmin, addPgApp } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';
import { cliAsOperator } from '../helpers/cli';

describe('rotation windows on real servers', () => {
  const t = withPgRig();
  const cli = cliAsOperator(() => t.rig.env, 'window-test');

  it('a freeze blocks a manual start; --outside-window starts it (audited) and the revoke waits for the freeze to end', async () => {
    const adminId = await addPgAdmin(t.rig, t.pg);
    const app = await addPgApp(t.rig, t.pg, adminId, 'win');
    const freezeEnd = new Date(Date.now() + 40_000);
    const def = await t.rig.store.getDefinition(app.id);
    await t.rig.store.putDefinition(
      {
        ...def,
        policy: {
          ...def.policy,
          freezes: [
            {
              from: new Date(Date.now() - 3_600_000).toISOString(),
              to: freezeEnd.toISOString(),
              reason: 'test freeze',
            },
          ],
        },
      },
      'test',
    );
    const freezeText = `freeze until ${freezeEnd.toISOString()} (test freeze)`;

    const window = await cli('window', app.id);
    expect(window.out).toContain(`closed (${freezeText}); next window`);

    const plan = await cli('rotate', app.id, '--dry-run');
    expect(plan.code).toBe(EXIT.blocked);
    expect(plan.out).toContain(freezeText);
    expect(plan.out).toMatch(/--outside-window/);

    const refused = await cli('rotate', app.id);
    expect(refused.code).toBe(EXIT.error);
    expect(refused.err).toContain(`rotation window closed (${freezeText})`);

    // Any client, not only our CLI: the worker's preflight refuses too.
    const direct = await t.rig.start({ credentialId: app.id, graceMs: 0 });
    await expect(direct.result()).rejects.toThrow();
    const directHistory = await direct.fetchHistory();
    const failure = JSON.stringify(
      directHistory.events?.map(
        (e) => e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type,
      ),
    );
    expect(failure).toContain('OutsideWindowError');
    expect((await t.rig.store.listVersions(app.id)).map((v) => v.state)).toEqual(['current']);

    expect((await cli('rotate', app.id, '--outside-window')).code).toBe(EXIT.usage);

    const rotated = await cli(
      'rotate',
      app.id,
      '--outside-window',
      '--reason',
      'hotfix',
      '--grace',
      '0s',
      '--migration-timeout',
      '0s',
      '--drain-timeout',
      '0s',
      '--wait',
    );
    expect(rotated.out).toContain('outcome: rotated');
    expect(rotated.code).toBe(EXIT.ok);
    // grace 0, yet the old login went only when the freeze was over
    expect(Date.now()).toBeGreaterThanOrEqual(freezeEnd.getTime());
    const audit = await t.rig.store.listAudit(app.id);
    const override = audit.find((a) => a.action === 'window-override');
    expect(override).toMatchObject({ details: { by: 'window-test', reason: 'hotfix' } });
    expect(String(override?.details?.window)).toContain(freezeText);
    const revoked = audit.find((a) => a.action === 'mark-revoked');
    expect(revoked).toBeDefined();
    expect(Date.parse(revoked!.at)).toBeGreaterThanOrEqual(freezeEnd.getTime());

    const history = await cli('history', app.id);
    expect(history.out).toMatch(/rotated \(OUTSIDE WINDOW\)\t.*\thotfix/);

    const status = await cli('status', app.id);
    expect(status.out).toContain('window       open now');
    const result = (await t.rig.client.workflow.getHandle(`rotate/${app.id}`).result()) as RotationResult;
    expect(result.outcome).toBe('rotated');
  });
});
