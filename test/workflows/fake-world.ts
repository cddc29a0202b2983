import { ApplicationFailure } from '@temporalio/activity';
import type { DeliveryActivities, PlanningActivities, RotationActivities } from '../../src/shared/activities';
import type { RotationDryRun, RotationInput, RotationPlan } from '../../src/shared/types';

/**
 * An in-memory database + store for workflow-logic tests on the
 * time-skipping server. The real activities are tested against real servers
 * elsewhere; here we only check what the workflow asks for, and in what order.
 */
export interface FakeWorld {
  logins: Record<string, string>; // login -> password
  versions: Array<{ version: number; username: string; state: string; label?: string }>;
  sessions: Record<string, number>;
  audit: string[];
  /** Every audit record whole: action and details (who, versions, run, error, ...). */
  auditRecords: Array<{ action: string; details: Record<string, unknown> }>;
  calls: string[];
}

export function newWorld(): FakeWorld {
  return {
    logins: { app: 'pw1' },
    versions: [{ version: 1, username: 'app', state: 'current', label: 'CURRENT' }],
    sessions: {},
    audit: [],
    auditRecords: [],
    calls: [],
  };
}

/** Snapshot of the parts a compensation must restore exactly. */
export function snapshot(w: FakeWorld) {
  return JSON.parse(
    JSON.stringify({ logins: w.logins, versions: w.versions.filter((v) => v.state !== 'discarded') }),
  ) as unknown;
}

/** An activity of the fakes: the rotation's, the dry run's planRotation, the delivery ones. */
export type FakeActivity = keyof RotationActivities | keyof PlanningActivities | keyof DeliveryActivities;

export interface FakeOptions {
  /** Activity that fails permanently (after its side effect if `failAfterEffect`). */
  failAt?: FakeActivity;
  failAfterEffect?: boolean;
  /** Resolved by the test to let a blocked activity continue. */
  blockAt?: keyof RotationActivities;
  unblock?: Promise<void>;
  /** Activities that wait for their promise before doing anything (to hold the run in a phase). */
  gates?: Partial<Record<FakeActivity, Promise<void>>>;
  /** Activities that fail permanently this many times, then work (to park the run for an operator). */
  failTimes?: Partial<Record<FakeActivity, number>>;
  /**
   * Activities that fail this many times with a retryable error, then work: the workflow's retry
   * policy decides. Each failure asks for a 10 ms retry delay, so local activities (whose backoff
   * is real time in the worker) do not make the test wait seconds.
   */
  retryableFailures?: Partial<Record<FakeActivity, number>>;
  /** Activities that work this many times, then fail permanently (a later call of the same step). */
  failAfterCalls?: Partial<Record<FakeActivity, number>>;
  strategy?: RotationPlan['strategy'];
  /** Delivery targets in the plan: the workflow then calls the delivery activities (recorded in calls). */
  targets?: string[];
  /** Other nodes in the plan: the workflow then runs the replicate step. */
  nodes?: string[];
  /** A dry run whose planning stops at this blocker (no plan comes back). */
  dryRunBlocker?: string;
  /** Consumer-table bounds in the plan (preflight's answer), where they win over the input's. */
  planLimits?: { maxConsumers?: number; consumerExpiryMs?: number };
}

export function fakeActivities(
  w: FakeWorld,
  opts: FakeOptions = {},
): RotationActivities & PlanningActivities & DeliveryActivities {
  const strategy = opts.strategy ?? 'dual-user';
  const version = (n: number) => w.versions.find((v) => v.version === n);

  async function step(name: FakeActivity, effect: () => void, call: string = name): Promise<void> {
    w.calls.push(call);
    await opts.gates?.[name];
    const retryableLeft = opts.retryableFailures?.[name];
    if (retryableLeft) {
      opts.retryableFailures![name] = retryableLeft - 1;
      throw ApplicationFailure.create({
        message: `injected retryable failure in ${name}`,
        type: 'TransientError',
        nextRetryDelay: 10,
      });
    }
    const worksLeft = opts.failAfterCalls?.[name];
    if (worksLeft !== undefined) {
      if (worksLeft === 0)
        throw ApplicationFailure.nonRetryable(`injected failure in ${name}`, 'TransientError');
      opts.failAfterCalls![name] = worksLeft - 1;
    }
    const failuresLeft = opts.failTimes?.[name];
    if (failuresLeft) {
      opts.failTimes![name] = failuresLeft - 1;
      throw ApplicationFailure.nonRetryable(`injected failure in ${name}`, 'TransientError');
    }
    if (opts.blockAt === name && opts.unblock) await opts.unblock;
    if (opts.failAt === name && !opts.failAfterEffect) {
      throw ApplicationFailure.nonRetryable(`injected failure in ${name}`, 'VerificationError');
    }
    effect();
    if (opts.failAt === name && opts.failAfterEffect) {
      throw ApplicationFailure.nonRetryable(`injected failure after ${name}`, 'VerificationError');
    }
  }

  function planOf(input: RotationInput): RotationPlan {
    const cur = w.versions.find((v) => v.label === 'CURRENT')!;
    return {
      credentialId: input.credentialId,
      engine: 'postgres',
      serverVersion: 'fake 1',
      strategy,
      strategyReason: 'test',
      fromVersion: cur.version,
      fromUsername: cur.username,
      toVersion: cur.version + 1,
      toUsername: strategy === 'dual-user' ? (cur.username === 'app' ? 'app_b' : 'app') : cur.username,
      graceMs: input.graceMs ?? 24 * 3600 * 1000,
      migrationTimeoutMs: input.migrationTimeoutMs ?? 3600 * 1000,
      drainTimeoutMs: input.drainTimeoutMs ?? 60_000,
      consumerDiscoveryMs: input.consumerDiscoveryMs ?? 0,
      warnings: [],
      ...(input.emergency ? { emergency: { reason: input.reason ?? '' } } : {}),
      ...opts.planLimits,
      ...(opts.targets ? { targets: opts.targets } : {}),
      ...(opts.nodes ? { nodes: opts.nodes } : {}),
    };
  }

  return {
    async preflight(input: RotationInput): Promise<RotationPlan> {
      w.calls.push('preflight');
      await opts.gates?.preflight;
      if (opts.failAt === 'preflight')
        throw ApplicationFailure.nonRetryable('unknown credential', 'UnknownCredentialError');
      return planOf(input);
    },
    // A dry run plans like preflight and changes nothing.
    async planRotation(input: RotationInput): Promise<RotationDryRun> {
      await step('planRotation', () => undefined);
      const plan = opts.dryRunBlocker ? undefined : planOf(input);
      const planned = planOf(input);
      return {
        credentialId: input.credentialId,
        engine: planned.engine,
        plan,
        serverVersion: planned.serverVersion,
        strategy: planned.strategy,
        strategyReason: planned.strategyReason,
        statements: plan
          ? { apply: [`CREATE ROLE ${plan.toUsername}`], revoke: [`DROP ROLE ${plan.fromUsername}`] }
          : { apply: [], revoke: [] },
        privilegesToClone: [],
        openSessions: [],
        blockers: opts.dryRunBlocker ? [opts.dryRunBlocker] : [],
        notes: [],
        plannedAt: new Date(0).toISOString(),
      };
    },
    createPending: (plan) =>
      step('createPending', () => {
        if (!version(plan.toVersion)) {
          w.versions.push({
            version: plan.toVersion,
            username: plan.toUsername,
            state: 'pending',
            label: 'PENDING',
          });
        }
      }),
    applyPending: (plan) =>
      step('applyPending', () => {
        w.logins[plan.toUsername] = `pw${plan.toVersion}`;
      }),
    replicateToNodes: () => step('replicateToNodes', () => undefined),
    async isPromoted(plan) {
      await step('isPromoted', () => undefined);
      return version(plan.toVersion)?.state === 'current';
    },
    // State-driven like the real one: demote if promoted, undo the server, discard the pending version.
    restore: (plan) =>
      step('restore', () => {
        const from = version(plan.fromVersion)!;
        const to = version(plan.toVersion);
        if (to?.state === 'current') {
          Object.assign(from, { state: 'current', label: 'CURRENT' });
          Object.assign(to, { state: 'pending', label: 'PENDING' });
        }
        if (plan.strategy === 'dual-user') delete w.logins[plan.toUsername];
        else w.logins[plan.fromUsername] = `pw${plan.fromVersion}`;
        if (to?.state === 'pending') {
          to.state = 'discarded';
          delete to.label;
        }
      }),
    verifyPending: () => step('verifyPending', () => undefined),
    promote: (plan) =>
      step('promote', () => {
        const from = version(plan.fromVersion)!;
        const to = version(plan.toVersion)!;
        Object.assign(from, { state: 'previous', label: 'PREVIOUS' });
        Object.assign(to, { state: 'current', label: 'CURRENT' });
      }),
    demote: (plan) =>
      step('demote', () => {
        const from = version(plan.fromVersion)!;
        const to = version(plan.toVersion)!;
        Object.assign(from, { state: 'current', label: 'CURRENT' });
        if (to.state === 'current') Object.assign(to, { state: 'pending', label: 'PENDING' });
      }),
    async countSessions(plan, which) {
      let n = 0;
      await step(
        'countSessions',
        () => {
          const login = which === 'from' ? plan.fromUsername : plan.toUsername;
          n = w.sessions[login] ?? 0;
          // Sessions end by themselves one poll later: models a draining pool.
          if (n > 0) w.sessions[login] = n - 1;
        },
        `countSessions:${which}`,
      );
      return n;
    },
    revokeOld: (plan) =>
      step('revokeOld', () => {
        if (plan.strategy === 'dual-user') delete w.logins[plan.fromUsername];
        const from = version(plan.fromVersion)!;
        from.state = 'revoked';
        delete from.label;
      }),
    async recordAudit(_id, action, details) {
      w.audit.push(action);
      w.auditRecords.push({ action, details: { ...details } });
    },
    deliverPending: () => step('deliverPending', () => undefined),
    deliverCurrent: () => step('deliverCurrent', () => undefined),
    deliverRestore: () => step('deliverRestore', () => undefined),
    deliverRemoveOld: () => step('deliverRemoveOld', () => undefined),
    deliverEvent: (_plan, event, detail) =>
      step('deliverEvent', () => undefined, `deliverEvent:${event}:${detail ?? '-'}`),
  };
}
