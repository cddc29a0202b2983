import { metricMeter } from '@temporalio/workflow';
import type { Outcome, Phase, RotationPlan } from '../shared/types';

// Workflow metrics go through the SDK's meter, which skips them during
// replay and exports them with the worker's runtime metrics (one /metrics).
const rotations = metricMeter.createCounter(
  'rotator_rotations',
  '1',
  'finished rotations by outcome and engine',
);
const phaseDuration = metricMeter.createHistogram(
  'rotator_phase_duration',
  'int',
  'ms',
  'duration of each phase',
);
const consumersBehind = metricMeter.createGauge(
  'rotator_consumers_behind',
  'int',
  '1',
  'consumers not on the wanted version',
);
const graceDeadline = metricMeter.createGauge(
  'rotator_grace_deadline_seconds',
  'int',
  's',
  'unix time at which the grace period of a rotation ends (0 when none)',
);

function tags(plan: RotationPlan | undefined, credentialId: string) {
  return {
    credential: credentialId,
    engine: plan?.engine ?? 'unknown',
    strategy: plan?.strategy ?? 'unknown',
  };
}

export const rotationMetrics = {
  phaseEnded(plan: RotationPlan | undefined, credentialId: string, phase: Phase, ms: number): void {
    phaseDuration.record(ms, { ...tags(plan, credentialId), phase });
  },
  finished(plan: RotationPlan | undefined, credentialId: string, outcome: Outcome): void {
    rotations.add(1, { engine: plan?.engine ?? 'unknown', strategy: plan?.strategy ?? 'unknown', outcome });
    graceDeadline.set(0, tags(plan, credentialId));
    consumersBehind.set(0, tags(plan, credentialId));
  },
  consumersBehind(plan: RotationPlan | undefined, credentialId: string, n: number): void {
    consumersBehind.set(n, tags(plan, credentialId));
  },
  graceDeadline(plan: RotationPlan | undefined, credentialId: string, deadlineMs: number): void {
    graceDeadline.set(Math.floor(deadlineMs / 1000), tags(plan, credentialId));
  },
};
