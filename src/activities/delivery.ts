import { Context } from '@temporalio/activity';
import type { DeliveryActivities } from '../shared/activities';
import type { RotationPlan } from '../shared/types';
import type { CredentialDefinition, CredentialStore } from '../store/types';
import { createTarget } from '../targets/registry';
import { describeTargetSpec } from '../targets/schema';
import {
  isEventTarget,
  type DeliveredCredential,
  type DeliveryStep,
  type LifecycleEvent,
  type Target,
  type VerifyStage,
} from '../targets/target';
import { classified } from './rotation';

export interface DeliveryDeps {
  store: CredentialStore;
  env?: NodeJS.ProcessEnv;
}

/** Opens the credential's targets one after the other, runs `fn` on each and closes it whatever happens. */
async function eachTarget(
  store: CredentialStore,
  env: NodeJS.ProcessEnv,
  def: CredentialDefinition,
  fn: (t: Target) => Promise<void>,
): Promise<void> {
  for (const spec of def.targets ?? []) {
    const target = await createTarget(spec, {
      credential: def,
      env,
      readCredential: (id) => store.getSecret(id, 'CURRENT'),
    });
    try {
      await fn(target);
    } finally {
      await target.close();
    }
  }
}

/** What a target receives for one stored version of the credential. */
function deliveredAs(
  def: CredentialDefinition,
  meta: { version: number; createdAt: string },
  secret: { username: string; password: string },
): DeliveredCredential {
  return {
    version: meta.version,
    engine: def.engine,
    host: def.host,
    port: def.port,
    database: def.database,
    username: secret.username,
    password: secret.password,
    createdAt: meta.createdAt,
  };
}

type Publish = 'publishPending' | 'publishCurrent' | 'restore' | 'removeOld';

/**
 * Publishes versions to the credential's delivery targets. The secrets are
 * read from the store here, inside the activity: the workflow passes only
 * the plan, so nothing secret enters history. Every target is published and
 * then read back; a target that fails makes the activity fail (and retry),
 * the others are already done and converge again on the retry.
 */
export function createDeliveryActivities(deps: DeliveryDeps): DeliveryActivities {
  const { store } = deps;
  const env = deps.env ?? process.env;

  const withTargets = (def: CredentialDefinition, fn: (t: Target) => Promise<void>): Promise<void> =>
    eachTarget(store, env, def, fn);

  async function delivered(
    def: CredentialDefinition,
    version: number,
  ): Promise<DeliveredCredential | undefined> {
    const meta = await store.getVersion(def.id, version);
    if (!meta || meta.state === 'discarded') return undefined;
    return deliveredAs(def, meta, await store.getSecret(def.id, version));
  }

  async function stepOf(def: CredentialDefinition, plan: RotationPlan): Promise<DeliveryStep> {
    const from = await delivered(def, plan.fromVersion);
    if (!from) throw new Error(`version ${plan.fromVersion} of "${plan.credentialId}" is not in the store`);
    return {
      credentialId: plan.credentialId,
      strategy: plan.strategy,
      fromVersion: plan.fromVersion,
      toVersion: plan.toVersion,
      fromUsername: plan.fromUsername,
      toUsername: plan.toUsername,
      from,
      to: await delivered(def, plan.toVersion),
      runId: currentRunId(),
    };
  }

  async function publish(plan: RotationPlan, method: Publish, stage: VerifyStage): Promise<void> {
    const def = await store.getDefinition(plan.credentialId);
    if (!def.targets?.length) return;
    const step = await stepOf(def, plan);
    await withTargets(def, async (t) => {
      await t[method](step);
      await t.verify(step, stage);
    });
  }

  return classified({
    deliverPending: (plan) => publish(plan, 'publishPending', 'pending'),
    deliverCurrent: (plan) => publish(plan, 'publishCurrent', 'current'),
    deliverRestore: (plan) => publish(plan, 'restore', 'restored'),
    deliverRemoveOld: (plan) => publish(plan, 'removeOld', 'old-removed'),
    async deliverEvent(plan, event: LifecycleEvent, detail) {
      const def = await store.getDefinition(plan.credentialId);
      await withTargets(def, async (t) => {
        if (isEventTarget(t)) await t.notify(event, { ...plan, runId: currentRunId() }, detail);
      });
    },
  });
}

/** Every target's planned actions for dry runs, and why a target could not be used (no secret, nothing changed). */
export async function describeDelivery(
  def: CredentialDefinition,
  env: NodeJS.ProcessEnv,
): Promise<{ lines: string[]; blockers: string[] }> {
  const lines: string[] = [];
  const blockers: string[] = [];
  for (const spec of def.targets ?? []) {
    let t: Target;
    try {
      t = await createTarget(spec, {
        credential: def,
        env,
        readCredential: () => Promise.reject(new Error('a dry run reads no credential')),
      });
    } catch (err) {
      blockers.push(
        `delivery target ${describeTargetSpec(spec)}: ${err instanceof Error ? err.message : String(err)}`,
      );
      continue;
    }
    try {
      const a = t.describeActions();
      lines.push(
        `pending: ${a.pending}`,
        `promote: ${a.current}`,
        `rollback: ${a.restore}`,
        `revoke: ${a.removeOld}`,
      );
    } finally {
      await t.close();
    }
  }
  return { lines, blockers };
}

function currentRunId(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.runId;
  } catch {
    return undefined; // outside an activity (tests, CLI)
  }
}

/**
 * Publishes the CURRENT version to every non-event target (bootstrap: a new
 * target, or an application set up before the first rotation) and reads it
 * back. Webhooks get nothing: no lifecycle event happened.
 */
export async function publishCurrentVersion(
  store: CredentialStore,
  credentialId: string,
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const def = await store.getDefinition(credentialId);
  const cur = await store.getVersion(credentialId, 'CURRENT');
  if (!cur) throw new Error(`credential "${credentialId}" has no CURRENT version`);
  const secret = await store.getSecret(credentialId, cur.version);
  const from = deliveredAs(def, cur, secret);
  const step: DeliveryStep = {
    credentialId,
    strategy: def.strategy === 'auto' ? 'dual-user' : def.strategy,
    fromVersion: cur.version,
    toVersion: cur.version,
    fromUsername: secret.username,
    toUsername: secret.username,
    from,
  };
  const done: string[] = [];
  await eachTarget(store, env, def, async (t) => {
    if (isEventTarget(t)) return;
    await t.restore(step);
    await t.verify(step, 'restored');
    done.push(t.description);
  });
  return done;
}
