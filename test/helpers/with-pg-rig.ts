/**
 * The usual whole-system test set-up as vitest hooks (kept apart from pg-rig.ts,
 * which scripts/record-histories.ts also loads outside vitest).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { freshPg, type PgNamespace } from './pg';
import { addDualUserApp } from './pg-rig';
import { createRotationRig, type RotationRig } from './rotation';
import { devServerEnv } from './temporal';
import { withTempDir } from './temp-dir';
import type { FILE_RENDERINGS } from '../../src/targets/schema';

/** What {@link withPgRig} provides; the fields are replaced for every test, so read them inside hooks and tests. */
export interface PgRig {
  /** The dev server, one connection for the enclosing describe block (or file). */
  env: TestWorkflowEnvironment;
  /** A fresh PostgreSQL database and its admin connection, for this test. */
  pg: PgNamespace;
  /** A store, worker and client on the dev server, for this test. */
  rig: RotationRig;
}

/**
 * The set-up of the usual whole-system test, registered as hooks of the enclosing describe block
 * (or file): the dev server before all its tests, and for each test a fresh PostgreSQL database and
 * a rotation rig, closed after the test (after the test's own afterEach hooks).
 */
export function withPgRig(): PgRig {
  const f = withDevServer({} as PgRig);
  beforeEach(async () => {
    f.pg = await freshPg();
    f.rig = await createRotationRig(f.env);
  });
  afterEach(async () => {
    const { rig, pg } = f;
    // Cleared first: a failing beforeEach of the next test must not close these again.
    f.rig = undefined as never;
    f.pg = undefined as never;
    await rig?.close();
    await pg?.cleanup();
  });
  return f;
}

/** What {@link withRotationRig} provides; `rig` is replaced for every test, so read it inside hooks and tests. */
export type RotationRigFixture = Omit<PgRig, 'pg'>;

/**
 * {@link withPgRig} without the PostgreSQL database, for tests that bring their own server or none:
 * the dev server for the enclosing describe block (or file) and a rotation rig for each test, closed
 * after the test (after the test's own afterEach hooks).
 */
export function withRotationRig(): RotationRigFixture {
  const f = withDevServer({} as RotationRigFixture);
  beforeEach(async () => {
    f.rig = await createRotationRig(f.env);
  });
  afterEach(async () => {
    const { rig } = f;
    f.rig = undefined as never;
    await rig?.close();
  });
  return f;
}

/** Registers the dev server connection of `f` for the enclosing describe block (or file). */
export function withDevServer<F extends { env: TestWorkflowEnvironment }>(f: F): F {
  beforeAll(async () => {
    f.env = await devServerEnv();
  });
  afterAll(async () => {
    await f.env?.teardown();
  });
  return f;
}

/**
 * withPgRig, a scratch directory (`tempPrefix`), and for each test the login `app` (password
 * initial-Pw-1) registered as a dual-user credential delivered to a file target in `<scratch>/app`;
 * `prepare` runs on the login before it is registered. Read `app` inside tests.
 */
export function withFileDeliveredApp(
  tempPrefix: string,
  idPrefix: string,
  prepare: (pg: PgNamespace, login: string) => Promise<void> = async () => undefined,
  /** More of the file target's settings (e.g. renderings). */
  target: { renderings?: Array<(typeof FILE_RENDERINGS)[number]> } = {},
) {
  const t = withPgRig();
  const root = withTempDir(tempPrefix);
  const app = { credentialId: '', login: '', dir: '' };
  beforeEach(async () => {
    app.login = await t.pg.createLogin('app', 'initial-Pw-1');
    await prepare(t.pg, app.login);
    app.dir = join(root.path, 'app');
    app.credentialId = await addDualUserApp(t.rig, t.pg, {
      login: app.login,
      password: 'initial-Pw-1',
      idPrefix,
      targets: [{ type: 'file', dir: app.dir, ...target }],
    });
  });
  return { t, root, app };
}
