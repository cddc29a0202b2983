import { ApplicationFailure, Context } from '@temporalio/activity';
import { RotatorError, PrivilegeParityError } from '../errors';
import { redactText, sanitizeError } from '../sanitize-error';
import type { Engine, EngineFactory, Secret } from '../engines/types';
import { generatePassword } from '../engines/password';
import { secretFormsOf } from '../engines';
import { withRedactedErrors } from '../engines/redaction';
import type { CredentialDefinition, CredentialStore } from '../store/types';
import type { RotationActivities } from '../shared/activities';
import type { RotationInput, RotationPlan } from '../shared/types';
import { Blockers, connectionFor, currentToRotate, planOnServer } from './plan';

export { chooseStrategy } from './plan';

export interface RotationDeps {
  store: CredentialStore;
  createEngine: EngineFactory;
  /** Actor name recorded in audit records for worker-side changes. */
  actor?: string;
}

/**
 * The rotation's side effects. Each one is idempotent (safe to retry after a
 * partial success), reads secrets from the store itself, and composes the
 * engine interface per strategy without knowing which engine it drives.
 */
export function createRotationActivities(deps: RotationDeps): RotationActivities {
  const { store } = deps;
  const actor = deps.actor ?? 'worker';

  /** The engine of `def`, its errors redacted of the admin password and `secrets` in every form. */
  async function withEngine<T>(
    def: CredentialDefinition,
    fn: (engine: Engine) => Promise<T>,
    secrets: Secret[] = [],
  ): Promise<T> {
    const conn = await connectionFor(store, def);
    const forms = [conn.admin, ...secrets].flatMap((s) => secretFormsOf(def.engine, s.password));
    const engine = withRedactedErrors(deps.createEngine(def.engine, conn), forms);
    try {
      return await fn(engine);
    } finally {
      await engine.close();
    }
  }

  async function secretsOf(plan: RotationPlan) {
    const [from, to] = await Promise.all([
      store.getSecret(plan.credentialId, plan.fromVersion),
      store.getSecret(plan.credentialId, plan.toVersion),
    ]);
    return { from, to };
  }

  return classified({
    async preflight(input: RotationInput): Promise<RotationPlan> {
      const def = await store.getDefinition(input.credentialId);
      const enforce = new Blockers(false); // throws at the first problem
      const current = (await currentToRotate(store, def, enforce))!;
      return withEngine(def, async (engine) => {
        const { plan, window } = await planOnServer(store, def, input, current, engine, enforce);
        if (window.overridden) {
          await store.audit({
            actor,
            credentialId: def.id,
            action: 'window-override',
            details: {
              by: input.requestedBy ?? 'unknown',
              reason: input.reason,
              window: window.note,
              runId: Context.current().info.workflowExecution?.runId,
            },
          });
        }
        return plan!;
      });
    },

    async createPending(plan) {
      await store.createPending(
        plan.credentialId,
        plan.toVersion,
        plan.toUsername,
        () => generatePassword(),
        actor,
      );
    },

    async applyPending(plan) {
      const def = await store.getDefinition(plan.credentialId);
      const { from, to } = await secretsOf(plan);
      await withEngine(def, (engine) => applyStep(engine, plan, from, to), [from, to]);
    },

    async isPromoted(plan) {
      return (await store.getVersion(plan.credentialId, plan.toVersion))?.state === 'current';
    },

    async restore(plan) {
      const id = plan.credentialId;
      // 1. Consumers first: if the new version got promoted (the workflow may not know), demote it.
      if ((await store.getVersion(id, plan.toVersion))?.state === 'current')
        await store.demote(id, plan.fromVersion, actor);
      // 2. The server: remove whatever apply may have done. Every undo below is idempotent
      //    and harmless when apply never ran.
      const pending = await store.getVersion(id, plan.toVersion);
      // Apply reads the new version's secret: without a stored new version it never ran, and
      // the server holds nothing of ours (a login named like the new one is someone else's).
      if (!pending) return;
      const from = await store.getSecret(id, plan.fromVersion);
      const def = await store.getDefinition(id);
      await withEngine(
        def,
        async (engine) => {
          switch (plan.strategy) {
            case 'dual-user':
              // Objects the new login created go back to the old one.
              return engine.dropLogin(plan.toUsername, from.username);
            case 'dual-password':
              return engine.changePassword(from.username, { mode: 'keep-only', password: from.password });
            case 'single':
              return engine.changePassword(from.username, { mode: 'replace', password: from.password });
          }
        },
        [from],
      );
      // 3. The store: no PENDING version left behind to block the next rotation.
      if (pending.state === 'pending') await store.discardPending(id, plan.toVersion, actor);
    },

    async verifyPending(plan) {
      const def = await store.getDefinition(plan.credentialId);
      const { from, to } = await secretsOf(plan);
      await withEngine(
        def,
        async (engine) => {
          await engine.verifyLogin(to, { checks: def.verifyChecks });
          if (plan.strategy === 'single') return;
          // The old credential must keep working during grace.
          await engine.verifyLogin(from, { checks: def.verifyChecks });
          if (plan.strategy === 'dual-user') {
            const diff = await engine.comparePrivileges(from.username, to.username);
            if (diff.missing.length > 0) {
              throw new PrivilegeParityError(
                `login "${to.username}" lacks ${diff.missing.length} privilege(s) of "${from.username}": ${diff.missing.slice(0, 10).join('; ')}`,
                diff.missing,
              );
            }
          }
        },
        [from, to],
      );
    },

    async promote(plan) {
      await store.promote(plan.credentialId, plan.toVersion, actor);
    },

    async demote(plan) {
      await store.demote(plan.credentialId, plan.fromVersion, actor);
    },

    async countSessions(plan, which) {
      if (plan.strategy !== 'dual-user') return -1;
      const def = await store.getDefinition(plan.credentialId);
      const login = which === 'from' ? plan.fromUsername : plan.toUsername;
      return withEngine(def, async (engine) => (await engine.listSessions(login)).length);
    },

    async revokeOld(plan) {
      const def = await store.getDefinition(plan.credentialId);
      const old = await store.getVersion(plan.credentialId, plan.fromVersion);
      if (old?.state === 'revoked') return;
      const to = await store.getSecret(plan.credentialId, plan.toVersion);
      await withEngine(def, (engine) => revokeStep(engine, plan, to), [to]);
      await store.markRevoked(plan.credentialId, plan.fromVersion, actor);
    },

    async recordAudit(credentialId, action, details) {
      const eventId = details.eventId;
      if (eventId !== undefined) {
        const seen = await store.listAudit(credentialId);
        if (seen.some((r) => r.details?.eventId === eventId)) return;
      }
      await store.audit({ actor, credentialId, action, details });
    },
  });
}

/** The apply step of a strategy: what applyPending runs (and a dry run records). */
export async function applyStep(engine: Engine, plan: RotationPlan, from: Secret, to: Secret): Promise<void> {
  switch (plan.strategy) {
    case 'dual-user':
      return engine.createLoginLike(from.username, to.username, to.password);
    case 'dual-password':
      return engine.changePassword(from.username, {
        mode: 'add',
        password: to.password,
        current: from.password,
      });
    case 'single':
      return engine.changePassword(from.username, { mode: 'replace', password: to.password });
  }
}

/** The revoke step of a strategy on the server: what revokeOld runs (and a dry run records). */
export async function revokeStep(engine: Engine, plan: RotationPlan, to: Secret): Promise<void> {
  switch (plan.strategy) {
    case 'dual-user':
      return engine.dropLogin(plan.fromUsername, to.username);
    case 'dual-password':
      return engine.changePassword(to.username, { mode: 'keep-only', password: to.password });
    case 'single':
      return; // the old password stopped working at apply
  }
}

/**
 * Maps our errors to Temporal failures in one place: permanent classes become
 * non-retryable with their code as the type; the message never holds a secret.
 */
export function classified<T extends object>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      const stopHeartbeats = heartbeatWhileRunning();
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        throw toFailure(err, name);
      } finally {
        stopHeartbeats();
      }
    };
  }
  return wrapped as T;
}

const HEARTBEAT_EVERY_MS = 1_000;

/**
 * Heartbeats while an activity runs, so the server notices a worker that died
 * mid-step after the workflow's heartbeatTimeout (and retries the idempotent
 * step on another worker) instead of after the whole startToCloseTimeout.
 * No-op outside an activity (unit tests) and in local activities.
 */
function heartbeatWhileRunning(): () => void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return () => undefined;
  }
  if (ctx.info.isLocal) return () => undefined;
  const timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
  return () => clearInterval(timer);
}

function toFailure(err: unknown, activity: string): unknown {
  if (err instanceof RotatorError) {
    const details = err instanceof PrivilegeParityError ? [{ missing: err.differences }] : [];
    return ApplicationFailure.create({
      message: redactText(err.message),
      type: err.code,
      nonRetryable: !err.retryable,
      details,
    });
  }
  const attempt = safeAttempt();
  // Unknown errors are retried; keep only the sanitized message (driver errors may echo connection strings).
  const message = sanitizeError(err).message;
  return ApplicationFailure.create({
    message: `${activity}: ${message}`,
    type: 'TransientError',
    details: [{ attempt }],
  });
}

function safeAttempt(): number | undefined {
  try {
    return Context.current().info.attempt;
  } catch {
    return undefined;
  }
}
