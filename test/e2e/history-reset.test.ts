import { describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { RotationResult, RotationStatus } from '../../src/shared/types';
import { cliAsOperator } from '../helpers/cli';
import { addPgAppWithAdmin } from '../helpers/pg-app';
import { withPgRig } from '../helpers/with-pg-rig';

// Reviewer finding left from #11: `history` keyed its entries on the run id,
// so a rotation reset with `temporal workflow reset` (a new run of the same
// rotation) showed as two rotations, one of them "running" for ever. A reset
// run belongs to the rotation it was reset from: one entry, with its runs.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForPhase(h: WorkflowHandle, phase: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const s = (await h.describe()).memo?.status as RotationStatus | undefined;
    if (s?.phase === phase) return;
    await sleep(100);
  }
  throw new Error(`rotation never reached ${phase}`);
}

describe('history of a rotation that was reset', () => {
  const t = withPgRig();
  const cli = cliAsOperator(() => t.rig.env, 'reviewer');

  it('shows one rotation with both runs, outcome of the last run', async () => {
    const { id: credentialId } = await addPgAppWithAdmin(t.rig, t.pg, 'reset');
    const first = await t.rig.start({
      credentialId,
      graceMs: 600_000,
      drainTimeoutMs: 0,
      migrationTimeoutMs: 5_000,
    });
    await waitForPhase(first, 'grace');
    const firstRunId = (await first.describe()).runId;

    // What `temporal workflow reset --type LastWorkflowTask` does: a new run from the last completed task.
    const events = (await first.fetchHistory()).events ?? [];
    const lastTask = [...events].reverse().find((e) => e.workflowTaskCompletedEventAttributes)!;
    const { runId: resetRunId } = await t.rig.client.workflowService.resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: first.workflowId, runId: firstRunId },
      workflowTaskFinishEventId: lastTask.eventId,
      reason: 'reviewer: reset test',
      requestId: `reset-${firstRunId}`,
    });
    expect(resetRunId).toBeTruthy();
    const second = t.rig.client.workflow.getHandle(first.workflowId, resetRunId!);
    await waitForPhase(second, 'grace');
    await second.executeUpdate('finishGrace', { args: [{ reason: 'reviewer' }] });
    expect(((await second.result()) as RotationResult).outcome).toBe('rotated');

    const r = await cli('history', credentialId, '--json');
    expect(r.err).not.toMatch(/not shown/);
    const entries = JSON.parse(r.out) as Array<{ runId: string; runs?: string[]; outcome: string }>;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ outcome: 'rotated', runs: [firstRunId, resetRunId] });
    const text = await cli('history', credentialId);
    expect(text.out.split('\n')).toHaveLength(2); // header + one rotation
    expect(text.out).toMatch(/reset/);
  });
});
