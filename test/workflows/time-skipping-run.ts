import { afterAll, beforeAll } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { rotationWorkflowId } from '../../src/shared/constants';
import { statusQuery } from '../../src/shared/messages';
import type { Phase, RotationInput, RotationResult, RotationStatus } from '../../src/shared/types';
import { createTestWorker, timeSkippingEnv, uniqueTaskQueue } from '../helpers/temporal';
import { fakeActivities, type FakeOptions, type FakeWorld } from './fake-world';

/** One time-skipping server for the calling test file: started before its tests, torn down after. */
export function useTimeSkippingEnv(): { env: TestWorkflowEnvironment } {
  const holder = {} as { env: TestWorkflowEnvironment };
  beforeAll(async () => {
    holder.env = await timeSkippingEnv();
  });
  afterAll(async () => {
    await holder.env?.teardown();
  });
  return holder;
}

/** Runs one rotation with fake activities; `drive` may signal/query while it runs (the worker runs until it returns). */
export async function rotateOn(
  env: TestWorkflowEnvironment,
  world: FakeWorld,
  opts: FakeOptions,
  input: Partial<RotationInput> = {},
  drive?: (h: WorkflowHandle) => Promise<void>,
): Promise<RotationResult> {
  const taskQueue = uniqueTaskQueue('rot');
  const worker = await createTestWorker(env, {
    taskQueue,
    activities: fakeActivities(world, opts),
  });
  const credentialId = `cred-${taskQueue}`;
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start('rotateCredential', {
      args: [{ credentialId, ...input }],
      taskQueue,
      workflowId: rotationWorkflowId(credentialId),
    });
    if (drive) await drive(handle);
    return (await handle.result()) as RotationResult;
  });
}

/** Polls the status query until the workflow is in `phase` (time does not skip while we query). */
export async function waitForPhase(h: WorkflowHandle, phase: Phase): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await h.query(statusQuery);
    if (s.phase === phase) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`workflow never reached phase ${phase}`);
}

/**
 * The status once the run is parked for an operator or done, whichever comes first: a test that
 * expects a park then fails on an assertion when a mutant lets the run go through, not on its timeout.
 */
export async function parkedOrDone(h: WorkflowHandle): Promise<RotationStatus> {
  for (let i = 0; i < 200; i++) {
    const s = await h.query(statusQuery);
    if (s.phase === 'needs-operator' || s.phase === 'done') return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('workflow neither parked nor finished');
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, one sample a line (no escaped quotes in our label values). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]),
    );
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}
