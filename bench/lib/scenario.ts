/**
 * One run of the workload on a fresh namespace of one engine with a rotation
 * in the middle: none, the naive seed rotation, or our workflow (the same
 * strategy for both). Shared by bench/zero-downtime.ts and scripts/workload.ts.
 */
import { rotationWorkflowId } from '../../src/shared/constants';
import { statusQuery } from '../../src/shared/messages';
import type { ResolvedStrategy, RotationResult, RotationStatus } from '../../src/shared/types';
import { registerFixture } from './engines';
import type { WorkloadEngine } from './engines/types';
import { naiveRotate, type NaiveTimeline } from './naive-rotation';
import type { BenchRig } from './rotation-rig';
import { formatReport, runWorkload, type WorkloadReport } from './workload';

export type RotationKind = 'none' | 'naive' | 'workflow';

export interface ScenarioOptions {
  rotate: RotationKind;
  /** Label of the run (default: the rotation kind). */
  label?: string;
  /** Consumers refresh on auth failure (default true); false: plain polling pools, as most applications have. */
  authRetry?: boolean;
  engine: WorkloadEngine;
  strategy: ResolvedStrategy;
  /** Store, worker and client; the naive rotation only uses its store. */
  rig: BenchRig;
  seconds: number;
  /** When the rotation starts (seconds after the workload started). */
  rotateAtSeconds: number;
  instances: number;
  clientsPerInstance: number;
  pollMs: number;
  ratePerClient: number;
  holdEvery: number;
  holdMs: number;
  holdQueries: number;
  /** Heartbeat period of the instances (0: no heartbeats). */
  heartbeatMs: number;
  /** Our rotation's timings. */
  graceMs: number;
  drainTimeoutMs: number;
  migrationTimeoutMs: number;
  /** The naive rotation's sleep between publish and drop. */
  naiveSleepMs: number;
  log?: (line: string) => void;
}

export interface WorkflowTimeline {
  outcome: string;
  phases: Array<{ phase: string; startMs: number; endMs?: number }>;
  consumers: number;
  consumersBehind: string[];
  historyEvents: number;
  signalEvents: number;
}

export interface ScenarioResult {
  engine: string;
  strategy: ResolvedStrategy;
  rotate: RotationKind;
  label: string;
  authRetry: boolean;
  report: WorkloadReport;
  naive?: NaiveTimeline & { publishedAtMs: number; droppedAtMs: number };
  workflow?: WorkflowTimeline;
  /** Sessions of the old login after the run (undefined where the server does not tell). */
  oldLoginSessionsAfter?: number;
}

/** Our rotation workflow, start to end, with its phases relative to the workload's start. */
async function workflowRotation(
  o: ScenarioOptions,
  credentialId: string,
  rel: (t: number) => number,
): Promise<WorkflowTimeline> {
  const handle = await o.rig.start({
    credentialId,
    graceMs: o.graceMs,
    drainTimeoutMs: o.drainTimeoutMs,
    migrationTimeoutMs: o.migrationTimeoutMs,
    // Every consumer reports within one heartbeat period.
    consumerDiscoveryMs: o.heartbeatMs,
    requestedBy: 'bench',
  });
  const result = (await handle.result()) as RotationResult;
  const status: RotationStatus = await handle.query(statusQuery);
  const history = await o.rig.client.workflow.getHandle(rotationWorkflowId(credentialId)).fetchHistory();
  return {
    outcome: result.outcome,
    phases: status.phases.map((p) => ({
      phase: p.phase,
      startMs: rel(Date.parse(p.startedAt)),
      endMs: p.endedAt ? rel(Date.parse(p.endedAt)) : undefined,
    })),
    consumers: status.consumers.length,
    consumersBehind: status.consumersBehind,
    historyEvents: history.events?.length ?? 0,
    signalEvents: history.events?.filter((e) => e.workflowExecutionSignaledEventAttributes).length ?? 0,
  };
}

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const log = o.log ?? (() => undefined);
  const fixture = await o.engine.setup();
  const tag = `${o.engine.name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  let ids: { adminId: string; credentialId: string } | undefined;
  let naive: ScenarioResult['naive'];
  let workflow: WorkflowTimeline | undefined;
  let startedAt = 0;
  const rel = (t: number) => t - startedAt;
  try {
    ids = { adminId: `bench/${tag}/admin`, credentialId: `bench/${tag}/app` };
    await registerFixture(o.rig, fixture, ids, { strategy: o.strategy });
    const { credentialId } = ids;
    const report = await runWorkload({
      open: fixture.open,
      store: o.rig.store,
      credentialId,
      instances: o.instances,
      clientsPerInstance: o.clientsPerInstance,
      pollMs: o.pollMs,
      ratePerClient: o.ratePerClient,
      holdEvery: o.holdEvery,
      holdMs: o.holdMs,
      holdQueries: o.holdQueries,
      drainTimeoutMs: 60_000,
      authRetry: o.authRetry ?? true,
      heartbeat: o.heartbeatMs > 0 ? { client: o.rig.client, periodMs: o.heartbeatMs } : undefined,
      consumerPrefix: `${o.rotate}-instance`,
      registry: false,
      seconds: o.seconds,
      warmupMs: o.rotateAtSeconds * 1000,
      during: async (w) => {
        startedAt = w.startedAt;
        if (o.rotate === 'naive') {
          const t = await naiveRotate(fixture, o.rig.store, credentialId, {
            strategy: o.strategy,
            sleepMs: o.naiveSleepMs,
          });
          naive = { ...t, publishedAtMs: rel(t.publishedAt), droppedAtMs: rel(t.droppedAt) };
          log(
            `  naive: published v${t.toVersion} at +${naive.publishedAtMs} ms, old credential dead at +${naive.droppedAtMs} ms (${t.terminatedSessions} sessions ended)`,
          );
        } else if (o.rotate === 'workflow') {
          workflow = await workflowRotation(o, credentialId, rel);
          log(
            `  workflow: ${workflow.outcome}; ` +
              workflow.phases.map((p) => `${p.phase} +${p.startMs}..${p.endMs ?? '?'}`).join(', ') +
              `; consumers=${workflow.consumers} behind=${workflow.consumersBehind.length} history=${workflow.historyEvents} events (${workflow.signalEvents} signals)`,
          );
        }
      },
      // Keep going until every instance has polled at least once after the change.
      cooldownMs: o.rotate === 'none' ? 0 : o.pollMs + 2_000,
    });
    const label = o.label ?? o.rotate;
    log(`  ${formatReport(label, report)}`);
    return {
      engine: o.engine.name,
      strategy: o.strategy,
      rotate: o.rotate,
      label,
      authRetry: o.authRetry ?? true,
      report,
      naive,
      workflow,
      oldLoginSessionsAfter: o.strategy === 'dual-user' ? await fixture.sessionsOf(fixture.login) : undefined,
    };
  } finally {
    if (ids) {
      await o.rig.store.deleteDefinition(ids.credentialId, 'bench').catch(() => undefined);
      await o.rig.store.deleteDefinition(ids.adminId, 'bench').catch(() => undefined);
    }
    await fixture.cleanup();
  }
}
