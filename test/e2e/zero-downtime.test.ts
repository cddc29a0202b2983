import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { statusQuery } from '../../src/shared/messages';
import type { ResolvedStrategy, RotationResult, RotationStatus } from '../../src/shared/types';
import { registerFixture } from '../../bench/lib/engines';
import { mysqlWorkload } from '../../bench/lib/engines/mysql';
import { postgresWorkload } from '../../bench/lib/engines/postgres';
import type { EngineFixture, WorkloadEngine } from '../../bench/lib/engines/types';
import {
  startWorkload,
  type RunningWorkload,
  type WorkloadOptions,
  type WorkloadReport,
} from '../../bench/lib/workload';
import { pgConnect } from '../helpers/pg';
import { devServerEnv } from '../helpers/temporal';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { uniqueSuffix } from '../helpers/services';

// The claim of the product, measured: application instances that each poll
// the store on their own schedule, with connections held open, run queries
// continuously through a complete rotation (promote, migrate, grace, drain,
// revoke) on a real database and a real Temporal dev server, and not one
// query fails. The workload is the one of the demo and the benchmark
// (bench/lib/workload.ts); `npm run bench -- zero-downtime` measures it on
// every engine, here it is asserted on PostgreSQL (dual-user) and MariaDB
// (dual-password).

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TERMINATION_OR_AUTH = new Set(['57P01', '28P01', '28000', 'connection-terminated']);

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

/** A rotation rig and the engine's scratch namespace and login, registered in it as an admin + application credential. */
async function rigWithWorkload(
  engine: WorkloadEngine,
  strategy: ResolvedStrategy,
  extra: { verifyChecks?: string[] } = {},
): Promise<{ rig: RotationRig; fixture: EngineFixture; credentialId: string }> {
  const rig = await createRotationRig(env);
  const fixture = await engine.setup();
  const credentialId = uniqueCredentialId('zd-app');
  await registerFixture(
    rig,
    fixture,
    { adminId: uniqueCredentialId('admin'), credentialId },
    {
      strategy,
      ...extra,
      // Heartbeats come every 300 ms: within a second every consumer is known.
      policy: { consumerDiscoveryMs: 1_000 },
    },
  );
  return { rig, fixture, credentialId };
}

/** 4 instances x 2 clients, each instance polling every 1.5 s with its own phase, every 8th operation holding a connection ~0.8 s. */
function workloadOptions(fixture: EngineFixture, rig: RotationRig, credentialId: string): WorkloadOptions {
  return {
    open: fixture.open,
    store: rig.store,
    credentialId,
    instances: 4,
    clientsPerInstance: 2,
    pollMs: 1_500,
    ratePerClient: 40,
    holdEvery: 8,
    holdQueries: 4,
    holdMs: 800,
    drainTimeoutMs: 10_000,
    heartbeat: { client: rig.client, periodMs: 300 },
    consumerPrefix: `zd-${uniqueSuffix()}`,
    registry: false,
  };
}

function explain(report: WorkloadReport): string {
  return JSON.stringify({ byCode: report.failuresByCode, samples: report.failureSamples.slice(0, 5) });
}

describe('zero downtime on PostgreSQL: workload through a real rotation', () => {
  let rig: RotationRig;
  let fixture: EngineFixture;
  let credentialId: string;
  let workload: RunningWorkload | undefined;
  const app = () => fixture.login;

  beforeEach(async () => {
    ({ rig, fixture, credentialId } = await rigWithWorkload(postgresWorkload, 'dual-user', {
      verifyChecks: ['SELECT count(*) FROM zd.items'],
    }));
  });

  afterEach(async () => {
    await workload?.stop().catch(() => undefined);
    workload = undefined;
    await rig?.close();
    await fixture?.cleanup();
  });

  function start(extra: { frozenInstances?: number[] } = {}) {
    return startWorkload({ ...workloadOptions(fixture, rig, credentialId), ...extra });
  }

  const sessionsOf = async (login: string) => (await fixture.sessionsOf(login)) ?? NaN;

  async function roleExists(login: string): Promise<boolean> {
    const db = await pgConnect(fixture.where.database!);
    try {
      return ((await db.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [login])).rowCount ?? 0) > 0;
    } finally {
      await db.end();
    }
  }

  function phase(status: RotationStatus, name: string) {
    const p = status.phases.find((x) => x.phase === name);
    expect(p, `phase ${name}`).toBeDefined();
    return { start: Date.parse(p!.startedAt), end: Date.parse(p!.endedAt ?? '') };
  }

  it('4 instances x 2 clients with held connections run through a full rotation with zero failed operations', async () => {
    workload = await start();
    await sleep(1_500); // warm up; heartbeats find no rotation yet (ignored quietly)
    const handle = await rig.start({
      credentialId,
      graceMs: 3_000,
      drainTimeoutMs: 3_000,
      migrationTimeoutMs: 60_000,
    });
    const result = (await handle.result()) as RotationResult;
    await sleep(2_000); // keep going after the revoke
    const report = await workload.stop();
    workload = undefined;
    const status = await handle.query(statusQuery);

    expect(result).toMatchObject({ outcome: 'rotated', strategy: 'dual-user', fromVersion: 1, toVersion: 2 });
    expect(report.ops).toBeGreaterThan(1_000);
    expect(report.failures, explain(report)).toBe(0);

    // Every instance moved to version 2, and said so before the old login was revoked.
    const ids = report.perInstance.map((i) => i.consumerId).sort();
    expect(status.consumers.map((c) => c.consumerId).sort()).toEqual(ids);
    expect(status.consumers.every((c) => c.version === 2)).toBe(true);
    expect(status.consumersBehind).toEqual([]);
    const migrate = phase(status, 'migrate');
    const revoke = phase(status, 'revoke');
    const swappedAt = report.perInstance.map((i) => i.versions.find((v) => v.version === 2)?.at ?? Infinity);
    expect(Math.max(...swappedAt)).toBeLessThan(revoke.start);
    for (const c of status.consumers) expect(Date.parse(c.lastSeen)).toBeLessThanOrEqual(revoke.start);
    // The migrate phase ended because the last consumer reported (it waited for it), not by its 60 s timeout.
    expect(migrate.end).toBeGreaterThanOrEqual(Math.max(...swappedAt) - 50);
    expect(migrate.end - migrate.start).toBeLessThan(10_000);
    for (const i of report.perInstance) {
      expect(i.versions.map((v) => v.version)).toEqual([1, 2]);
      expect(i.drainTimeouts).toBe(0);
      expect(i.authFailures).toBe(0); // moved by the source, not rescued by an auth-failure retry
      expect(i.heartbeat?.errors).toBe(0);
    }

    // The old login is gone, the new one works, and no session of the old one is left.
    expect(await roleExists(app())).toBe(false);
    expect(await sessionsOf(app())).toBe(0);
    const history = await handle.fetchHistory();
    const signals = history.events?.filter((e) => e.workflowExecutionSignaledEventAttributes).length ?? 0;
    // Announce (v1) + migrated (v2) per consumer, plus one per period while migrate waits on
    // them; during grace the periodic ticks only describe().
    const migratePeriods = Math.ceil((migrate.end - migrate.start) / 300) + 1;
    expect(signals).toBeLessThanOrEqual(ids.length * (2 + migratePeriods) + 2);
  });

  it('a consumer that never migrates is reported behind, loses its sessions at revoke with auth/termination errors only, and nobody else fails', async () => {
    workload = await start({ frozenInstances: [3] });
    await sleep(1_500);
    const handle = await rig.start({
      credentialId,
      graceMs: 2_000,
      drainTimeoutMs: 2_000,
      migrationTimeoutMs: 4_000,
    });
    let maxOldSessionsBeforeRevoke = 0;
    let behindDuringGrace: string[] | undefined;
    for (;;) {
      const s = await handle.query(statusQuery);
      if (s.phase === 'grace') {
        behindDuringGrace ??= s.consumersBehind;
        maxOldSessionsBeforeRevoke = Math.max(maxOldSessionsBeforeRevoke, await sessionsOf(app()));
      }
      if (s.phase === 'revoke' || s.phase === 'done') break;
      await sleep(200);
    }
    const result = (await handle.result()) as RotationResult;
    await sleep(2_000);
    const report = await workload.stop();
    workload = undefined;
    const status = await handle.query(statusQuery);
    const frozen = report.perInstance.find((i) => i.frozen)!;

    expect(result.outcome).toBe('rotated');
    expect(behindDuringGrace).toEqual([frozen.consumerId]);
    expect(status.consumersBehind).toEqual([frozen.consumerId]);
    expect(status.consumers.find((c) => c.consumerId === frozen.consumerId)?.version).toBe(1);
    // Migrate waited for it until its timeout.
    const migrate = phase(status, 'migrate');
    expect(migrate.end - migrate.start).toBeGreaterThanOrEqual(3_900);

    // It held sessions of the old login until revoke ended them; afterwards none is left.
    expect(maxOldSessionsBeforeRevoke).toBeGreaterThan(0);
    expect(await sessionsOf(app())).toBe(0);
    expect(frozen.versions.map((v) => v.version)).toEqual([1]);
    expect(frozen.failures).toBeGreaterThan(0);
    expect(
      Object.keys(frozen.failuresByCode).every((c) => TERMINATION_OR_AUTH.has(c)),
      explain(report),
    ).toBe(true);
    for (const i of report.perInstance.filter((x) => !x.frozen)) {
      expect(i.failures, `${i.consumerId}: ${JSON.stringify(i.failuresByCode)}`).toBe(0);
      expect(i.versions.map((v) => v.version)).toEqual([1, 2]);
    }
  });
});

describe('zero downtime on MariaDB (dual-password): the same workload through a real rotation', () => {
  let fixture: EngineFixture | undefined;
  let rig: RotationRig | undefined;

  afterEach(async () => {
    await rig?.close();
    await fixture?.cleanup();
  });

  it('4 instances x 2 clients with held connections: zero failed operations, every instance on the new password', async () => {
    const registered = await rigWithWorkload(mysqlWorkload, 'dual-password');
    ({ rig, fixture } = registered);
    const workload = await startWorkload(workloadOptions(fixture, registered.rig, registered.credentialId));
    const rotate = async () => {
      await sleep(1_500);
      const handle = await registered.rig.start({
        credentialId: registered.credentialId,
        graceMs: 2_000,
        drainTimeoutMs: 2_000,
        migrationTimeoutMs: 60_000,
      });
      const r = (await handle.result()) as RotationResult;
      await sleep(1_500); // keep going after the revoke
      return r;
    };
    const result = await rotate().catch(async (err: unknown) => {
      await workload.stop().catch(() => undefined);
      throw err;
    });
    const report = await workload.stop();
    expect(result).toMatchObject({
      outcome: 'rotated',
      strategy: 'dual-password',
      fromVersion: 1,
      toVersion: 2,
    });
    expect(report.ops).toBeGreaterThan(500);
    expect(report.failures, explain(report)).toBe(0);
    for (const i of report.perInstance) expect(i.versions.map((v) => v.version)).toEqual([1, 2]);
  });
});
