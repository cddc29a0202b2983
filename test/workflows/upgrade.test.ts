import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { encryptedDataConverter, failureConverterPath } from '../../src/codec';
import { rotationWorkflowId } from '../../src/shared/constants';
import { finishGraceUpdate } from '../../src/shared/messages';
import type { Phase, RotationInput, RotationResult, RotationStatus } from '../../src/shared/types';
import { recordCodecKey } from '../helpers/leak-ledger';
import { REPO_ROOT, uniqueSuffix } from '../helpers/services';
import {
  devServerEnv,
  encryptedClient,
  testKeyring,
  uniqueTaskQueue,
  WORKFLOW_BUNDLE_PATH,
} from '../helpers/temporal';
import { fakeActivities, newWorld } from './fake-world';

/**
 * A deploy during grace (issue 11, item 7). A rotation sits in its grace
 * period on a worker of build A (today's code); build B adds a step after
 * promote, guarded by patched(); B's worker takes over, the rotation
 * completes and its whole history replays on B. Build C is the same change
 * without patched(): replaying the in-grace history on C must fail with a
 * nondeterminism error, which proves this test can fail.
 */
const PATCH_ID = 'upgrade-test';
const AUDIT_ACTION = 'upgrade-test-after-promote';
const PROMOTE = "await t.phase('promote'";

const keyring = testKeyring();
const dataConverter = encryptedDataConverter(keyring);
const workDir = join(REPO_ROOT, '.cache', 'upgrade-src', `${process.pid}-${uniqueSuffix()}`);

/**
 * rotate-credential.ts with one more local activity right after the promote
 * phase's statement; guarded by patched() or not. Fails loudly if the promote
 * statement is not found exactly once.
 */
function withStepAfterPromote(source: string, guarded: boolean): string {
  const at = source.indexOf(PROMOTE);
  if (at < 0 || source.indexOf(PROMOTE, at + 1) >= 0)
    throw new Error(`upgrade test: "${PROMOTE}" must occur exactly once in rotate-credential.ts`);
  let depth = 0;
  let end = -1;
  for (let i = at; i < source.length && end < 0; i++) {
    const ch = source[i]!;
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (ch === ';' && depth === 0) end = i;
  }
  if (end < 0) throw new Error('upgrade test: end of the promote statement not found');
  const call = `await upgradeTestStore.recordAudit('upgrade-test', '${AUDIT_ACTION}', {});`;
  const step = guarded ? `if (upgradeTestPatched('${PATCH_ID}')) ${call}` : call;
  const header = [
    "import { patched as upgradeTestPatched, proxyLocalActivities as upgradeTestLocal } from '@temporalio/workflow';",
    'const upgradeTestStore = upgradeTestLocal<{',
    '  recordAudit(id: string, action: string, details: Record<string, unknown>): Promise<void>;',
    "}>({ startToCloseTimeout: '30s' });",
  ].join('\n');
  return `${header}\n${source.slice(0, end + 1)}\n    ${step}${source.slice(end + 1)}`;
}

/** Bundles a copy of src/ (under .cache, so node_modules resolve) with the step added. */
async function buildWithStep(name: string, guarded: boolean): Promise<string> {
  const root = join(workDir, name);
  mkdirSync(root, { recursive: true });
  cpSync(join(REPO_ROOT, 'src'), join(root, 'src'), { recursive: true });
  const file = join(root, 'src', 'workflows', 'rotate-credential.ts');
  writeFileSync(file, withStepAfterPromote(readFileSync(file, 'utf8'), guarded));
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(root, 'src', 'workflows', 'index.ts'),
    failureConverterPath,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  if (!code.includes(AUDIT_ACTION)) throw new Error(`build ${name} does not contain the added step`);
  return code;
}

async function waitForPhase(h: WorkflowHandle, phase: Phase, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = 'nothing';
  while (Date.now() < until) {
    const status = (await h.describe()).memo?.status as RotationStatus | undefined;
    if (status?.phase === phase) return;
    last = status?.phase ?? last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`phase ${phase} not reached (last seen: ${last})`);
}

async function replay(code: string, workflowId: string, history: unknown): Promise<Error | undefined> {
  for await (const r of Worker.runReplayHistories({ workflowBundle: { code }, dataConverter }, [
    { workflowId, history },
  ]))
    return r.error;
  throw new Error('replay returned no result');
}

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
  recordCodecKey(`test:${keyring.keys.test!.toString('base64')}`);
});
afterAll(async () => {
  await env?.teardown();
  rmSync(workDir, { recursive: true, force: true });
});

describe('upgrade: a deploy while a rotation is in grace', () => {
  it('build A → build B (patched step after promote): the rotation completes and replays on B; without patched() it cannot replay', async () => {
    // Read once: a parallel vitest run may rewrite the file while this test runs.
    const buildA = readFileSync(WORKFLOW_BUNDLE_PATH, 'utf8');
    const [buildB, buildC] = await Promise.all([buildWithStep('B', true), buildWithStep('C', false)]);

    const world = newWorld(); // the "database": it outlives the workers, as a real one does
    const taskQueue = uniqueTaskQueue('upgrade');
    const client = encryptedClient(env, keyring);
    const newWorker = (code: string) =>
      Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueue,
        workflowBundle: { code },
        activities: fakeActivities(world),
        dataConverter,
      });
    const start = (credentialId: string, input: Partial<RotationInput>) =>
      client.workflow.start('rotateCredential', {
        args: [{ credentialId, consumerDiscoveryMs: 0, drainTimeoutMs: 0, ...input } satisfies RotationInput],
        taskQueue,
        workflowId: rotationWorkflowId(credentialId),
      });

    // Build A: the rotation reaches its (1 h) grace, then A's worker goes away.
    const workerA = await newWorker(buildA);
    const runningA = workerA.run();
    const credentialId = `upgrade/${uniqueSuffix()}`;
    const handle = await start(credentialId, { graceMs: 3_600_000 });
    try {
      await waitForPhase(handle, 'grace');
    } finally {
      workerA.shutdown();
      await runningA;
    }
    const inGrace = await handle.fetchHistory();

    // Negative control: the unguarded change cannot replay the in-grace history.
    const unguarded = await replay(buildC, handle.workflowId, inGrace);
    expect(unguarded?.name).toBe('DeterminismViolationError');
    expect(unguarded?.message).toMatch(/nondetermin/i);
    expect(await replay(buildB, handle.workflowId, inGrace)).toBeUndefined();

    // Build B takes over: the operator ends the grace, the rotation completes.
    const workerB = await newWorker(buildB);
    await workerB.runUntil(async () => {
      await handle.executeUpdate(finishGraceUpdate, { args: [{ by: 'upgrade-test' }] });
      const result = (await handle.result()) as RotationResult;
      expect(result).toMatchObject({ outcome: 'rotated', fromVersion: 1, toVersion: 2 });
      // The old run took the unpatched path; a run started on B takes the new step.
      expect(world.audit).not.toContain(AUDIT_ACTION);
      const fresh = (await (
        await start(`upgrade/${uniqueSuffix()}`, { graceMs: 0 })
      ).result()) as RotationResult;
      expect(fresh.outcome).toBe('rotated');
      expect(world.audit).toContain(AUDIT_ACTION);
    });
    expect(world.logins).toEqual({ app: 'pw3' });

    const full = await handle.fetchHistory();
    expect(full.events?.length).toBeGreaterThan(inGrace.events?.length ?? 0);
    expect(await replay(buildB, handle.workflowId, full)).toBeUndefined();

    // The recorded corpus catches the same mistake: a recorded rotation that went through
    // promote fails on C and replays on B.
    const recorded = temporal.api.history.v1.History.fromObject(
      JSON.parse(
        readFileSync(join(REPO_ROOT, 'test', 'replay', 'histories', 'rollback-in-grace.json'), 'utf8'),
      ) as Record<string, unknown>,
    );
    expect((await replay(buildC, 'rollback-in-grace', recorded))?.name).toBe('DeterminismViolationError');
    expect(await replay(buildB, 'rollback-in-grace', recorded)).toBeUndefined();
  }, 300_000);
});
