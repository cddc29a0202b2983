import { log, metricMeter } from '@temporalio/workflow';
import type { Outcome, Phase, RotationPlan } from '../shared/types';

// Workflow metrics go through the SDK's meter, which skips them during
// replay and exports them with the worker's runtime metrics (one /metrics).
//
// Label cardinality: counters and the phase histogram carry only engine,
// strategy, phase and outcome (a handful of values). The three gauges carry
// the credential id, because "which credential is behind / in grace / needs
// an operator" is their point: one series per credential that has rotated
// since the worker started (a fleet of 50,000 credentials means 150,000
// gauge series; scrape with a relabel rule that drops `credential` if that is
// too many).
//
// The instruments are created on first use, inside a workflow: the SDK's
// meter refuses to work outside workflow context, and creating them at module
// load would make this module (and every workflow importing it) impossible to
// import in the client, which starts workflows by function reference.
function createInstruments() {
  return {
    rotations: metricMeter.createCounter(
      'rotator_rotations',
      '1',
      'finished rotations by outcome and engine',
    ),
    phaseDuration: metricMeter.createHistogram(
      'rotator_phase_duration',
      'int',
      'ms',
      'duration of each phase',
    ),
    consumersBehind: metricMeter.createGauge(
      'rotator_consumers_behind',
      'int',
      '1',
      'consumers not on the wanted version',
    ),
    graceDeadline: metricMeter.createGauge(
      'rotator_grace_deadline_seconds',
      'int',
      's',
      'unix time at which the grace period of a rotation ends (0 when none)',
    ),
    needsOperator: metricMeter.createGauge(
      'rotator_needs_operator',
      'int',
      '1',
      '1 while a rotation waits for an operator (a step after promote or an undo keeps failing)',
    ),
  };
}

// Instruments hold only name, unit and description (tags are resolved per
// recording), so one set serves every workflow of the bundle.
let instruments: ReturnType<typeof createInstruments> | undefined;
const metrics = () => (instruments ??= createInstruments());

function kind(plan: RotationPlan | undefined) {
  return { engine: plan?.engine ?? 'unknown', strategy: plan?.strategy ?? 'unknown' };
}

function perCredential(plan: RotationPlan | undefined, credentialId: string) {
  return { credential: credentialId, ...kind(plan) };
}

/**
 * A metric must never decide a step's fate: the SDK meter throws on negative
 * values, and these calls sit in `finally` blocks where a throw would replace
 * the step's own result or error.
 */
function safely(record: () => void): void {
  try {
    record();
  } catch (err) {
    log.warn('metric not recorded', { error: err instanceof Error ? err.message : String(err) });
  }
}

const nonNegative = (n: number) => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

export const rotationMetrics = {
  phaseEnded(plan: RotationPlan | undefined, phase: Phase, ms: number): void {
    safely(() => metrics().phaseDuration.record(nonNegative(ms), { ...kind(plan), phase }));
  },
  finished(plan: RotationPlan | undefined, credentialId: string, outcome: Outcome): void {
    safely(() => {
      const m = metrics();
      m.rotations.add(1, { ...kind(plan), outcome });
      m.graceDeadline.set(0, perCredential(plan, credentialId));
      m.consumersBehind.set(0, perCredential(plan, credentialId));
    });
  },
  consumersBehind(plan: RotationPlan | undefined, credentialId: string, n: number): void {
    safely(() => metrics().consumersBehind.set(nonNegative(n), perCredential(plan, credentialId)));
  },
  graceDeadline(plan: RotationPlan | undefined, credentialId: string, deadlineMs: number): void {
    safely(() =>
      metrics().graceDeadline.set(nonNegative(deadlineMs / 1000), perCredential(plan, credentialId)),
    );
  },
  needsOperator(plan: RotationPlan | undefined, credentialId: string, parked: boolean): void {
    safely(() => metrics().needsOperator.set(parked ? 1 : 0, perCredential(plan, credentialId)));
  },
};
