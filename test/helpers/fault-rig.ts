/**
 * Set-up and checks shared by the fault tests (test/e2e/faults*.test.ts,
 * test/e2e/lost-step.test.ts): real worker processes on the dev server, a
 * fresh PostgreSQL database per test, and the invariants that must hold after
 * a fault (one CURRENT that logs in, no PENDING, no orphan login).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { settleQueries, stopAllFaultProcesses, workflowBundleCopy } from './faults';
import { freshPg, pgConnect, type PgNamespace } from './pg';
import { addPgAdmin, pgLogsIn } from './pg-rig';
import { createRotationRig, type RotationRig } from './rotation';
import { devServerEnv } from './temporal';

/** What {@link withFaultRig} provides; read the fields inside hooks and tests. */
export interface FaultRig {
  /** The shared dev server (a test may run its own private one instead). */
  env: TestWorkflowEnvironment;
  /** A scratch directory for the file's tests. */
  tmp: string;
  /** A copy of the workflow bundle for spawned workers (ROTATOR_WORKFLOW_BUNDLE). */
  bundle: string;
  /** A fresh PostgreSQL database, per test. */
  pg: PgNamespace;
  /** The test's rig, created by the test on the Temporal it needs; closed after the test. */
  rig: RotationRig | undefined;
  /** Closed after the test, newest first (proxies, open sessions). */
  cleanups: Array<() => Promise<unknown>>;
  /** Remembers a started workflow: terminated after the test if it still runs (a failed test). */
  track<T extends WorkflowHandle>(h: T): T;
  /**
   * Creates the test's rig (on `env`, the shared dev server by default) with the database's
   * admin registered (usable on `allowedServers` too); it is closed after the test.
   */
  newRig(
    env?: TestWorkflowEnvironment,
    allowedServers?: Array<{ host: string; port: number }>,
  ): Promise<{ rig: RotationRig; adminId: string }>;
}

/**
 * Registers the hooks of a fault test file: spawned workers die, half-done rotations are
 * terminated and everything is closed after each test, even when it failed half way.
 */
export function withFaultRig(name: string): FaultRig {
  const started: WorkflowHandle[] = [];
  const f = {
    rig: undefined,
    cleanups: [],
    track<T extends WorkflowHandle>(h: T): T {
      started.push(h);
      return h;
    },
    async newRig(env?: TestWorkflowEnvironment, allowedServers?: Array<{ host: string; port: number }>) {
      const rig = (f.rig = await createRotationRig(env ?? f.env));
      return { rig, adminId: await addPgAdmin(rig, f.pg, allowedServers) };
    },
  } as unknown as FaultRig;
  beforeAll(async () => {
    f.env = await devServerEnv();
    f.tmp = mkdtempSync(join(tmpdir(), `rotator-${name}-`));
    f.bundle = workflowBundleCopy(f.tmp);
  });
  afterAll(async () => {
    await f.env?.teardown();
    if (f.tmp) rmSync(f.tmp, { recursive: true, force: true });
  });
  beforeEach(async () => {
    f.pg = await freshPg();
  });
  afterEach(async () => {
    await stopAllFaultProcesses();
    await settleQueries();
    // A failed test must not leave a rotation running on the shared server.
    for (const h of started.splice(0)) {
      if ((await h.describe().catch(() => undefined))?.status.name === 'RUNNING')
        await h.terminate('fault test cleanup').catch(() => undefined);
    }
    await f.rig?.close().catch(() => undefined);
    f.rig = undefined;
    for (const c of f.cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await f.pg?.cleanup();
  });
  return f;
}

/** Which of the credential's two login slots (`base`, `base_b`) exist on the server. */
export async function slotLogins(pg: PgNamespace, base: string): Promise<string[]> {
  const { rows } = await pg.admin.query<{ rolname: string }>(
    `SELECT rolname FROM pg_roles WHERE rolname IN ($1, $2) ORDER BY rolname`,
    [base, `${base}_b`],
  );
  return rows.map((r) => r.rolname);
}

/** Every role of this test (the freshPg prefix). */
export async function prefixRoles(pg: PgNamespace): Promise<string[]> {
  const { rows } = await pg.admin.query<{ rolname: string }>(
    `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname`,
    [pg.prefix],
  );
  return rows.map((r) => r.rolname);
}

/** [version, state] of every stored version of a credential. */
export async function versions(rig: RotationRig, id: string): Promise<Array<[number, string]>> {
  return (await rig.store.listVersions(id)).map((v) => [v.version, v.state]);
}

/** After a completed rotation: one CURRENT that logs in and can read the app's table, old gone. */
export async function expectRotatedCleanly(
  rig: RotationRig,
  pg: PgNamespace,
  app: { id: string; login: string; password: string },
): Promise<void> {
  const current = await rig.store.getSecret(app.id, 'CURRENT');
  expect(current.username).toBe(`${app.login}_b`);
  expect(await slotLogins(pg, app.login)).toEqual([current.username]);
  expect(await versions(rig, app.id)).toEqual([
    [1, 'revoked'],
    [2, 'current'],
  ]);
  expect(await rig.store.getVersion(app.id, 'PENDING')).toBeUndefined();
  expect(await pgLogsIn(pg.database, app.login, app.password)).toBe(false);
  const c = await pgConnect(pg.database, current.username, current.password);
  try {
    expect((await c.query('SELECT count(*) FROM public.items')).rowCount).toBe(1);
    await c.query('INSERT INTO public.items VALUES (1)');
  } finally {
    await c.end();
  }
}

/** After a failed/aborted rotation: DB and store exactly as before, the old login works. */
export async function expectUntouched(
  rig: RotationRig,
  pg: PgNamespace,
  app: { id: string; login: string; password: string },
  rolesBefore: string[],
): Promise<void> {
  expect(await prefixRoles(pg)).toEqual(rolesBefore);
  expect(await slotLogins(pg, app.login)).toEqual([app.login]);
  expect(await versions(rig, app.id)).toEqual([[1, 'current']]);
  expect(await rig.store.getSecret(app.id, 'CURRENT')).toMatchObject({ version: 1, username: app.login });
  expect(await pgLogsIn(pg.database, app.login, app.password)).toBe(true);
}
