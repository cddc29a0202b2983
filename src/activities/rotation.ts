import { ApplicationFailure, Context } from '@temporalio/activity';
import { RotatorError, UnsupportedStrategyError, StoreStateError, PrivilegeParityError } from '../errors';
import type { Engine, EngineConnection, EngineFactory } from '../engines/types';
import { generatePassword } from '../engines/password';
import type { CredentialDefinition, CredentialStore } from '../store/types';
import type { RotationActivities } from '../shared/activities';
import type { ResolvedStrategy, RotationInput, RotationPlan } from '../shared/types';
import { nextVersion } from '../store/transitions';
import { DEFAULT_EMERGENCY_GRACE_MS } from '../shared/constants';
import { nextLoginName } from './login-names';

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

  async function withEngine<T>(def: CredentialDefinition, fn: (engine: Engine) => Promise<T>): Promise<T> {
    const engine = deps.createEngine(def.engine, await connectionFor(store, def));
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
      const current = await store.getVersion(def.id, 'CURRENT');
      if (!current) throw new StoreStateError(`credential "${def.id}" has no CURRENT version to rotate`);
      const pending = await store.getVersion(def.id, 'PENDING');
      if (pending) {
        throw new StoreStateError(
          `credential "${def.id}" has a PENDING version ${pending.version} from an unfinished rotation; discard it first`,
        );
      }
      return withEngine(def, async (engine) => {
        const server = await engine.describe();
        const { strategy, reason } = chooseStrategy(def, server.strategies);
        // Above every version ever stored, not CURRENT + 1: a rolled-back version may still exist.
        const toVersion = nextVersion(await store.listVersions(def.id));
        const toUsername =
          strategy === 'dual-user' ? nextLoginName(def, current.username, toVersion) : current.username;
        const previous = await store.getVersion(def.id, 'PREVIOUS');
        if (previous && previous.username === toUsername && strategy === 'dual-user') {
          throw new StoreStateError(
            `credential "${def.id}": previous version ${previous.version} (login "${toUsername}") is not revoked yet`,
          );
        }
        await engine.preflight(current.username, strategy);
        const warnings: string[] = [];
        if (strategy === 'single') {
          warnings.push(
            'strategy "single" changes the password in place: clients using the old one fail until they reload',
          );
        }
        return {
          credentialId: def.id,
          engine: def.engine,
          serverVersion: `${server.variant} ${server.version}`,
          strategy,
          strategyReason: reason,
          fromVersion: current.version,
          fromUsername: current.username,
          toVersion,
          toUsername,
          ...timings(def, input),
          emergency: input.emergency ? { reason: input.reason ?? 'no reason given' } : undefined,
          warnings,
        };
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

    async discardPending(plan) {
      await store.discardPending(plan.credentialId, plan.toVersion, actor);
    },

    async applyPending(plan) {
      const def = await store.getDefinition(plan.credentialId);
      const { from, to } = await secretsOf(plan);
      await withEngine(def, async (engine) => {
        switch (plan.strategy) {
          case 'dual-user':
            return engine.createLoginLike(from.username, to.username, to.password);
          case 'dual-password':
            return engine.addPassword(from.username, to.password, from.password);
          case 'single':
            return engine.setPassword(from.username, to.password);
        }
      });
    },

    async undoApply(plan) {
      const def = await store.getDefinition(plan.credentialId);
      const pending = await store.getVersion(plan.credentialId, plan.toVersion);
      const from = await store.getSecret(plan.credentialId, plan.fromVersion);
      await withEngine(def, async (engine) => {
        switch (plan.strategy) {
          case 'dual-user':
            // Objects the new login created go back to the old one.
            return engine.dropLogin(plan.toUsername, from.username);
          case 'dual-password':
            return engine.keepOnlyPassword(from.username, from.password);
          case 'single':
            // Nothing was applied if the pending version never got stored.
            if (pending) return engine.setPassword(from.username, from.password);
        }
      });
    },

    async verifyPending(plan) {
      const def = await store.getDefinition(plan.credentialId);
      const { from, to } = await secretsOf(plan);
      await withEngine(def, async (engine) => {
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
      });
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
      await withEngine(def, async (engine) => {
        switch (plan.strategy) {
          case 'dual-user':
            return engine.dropLogin(plan.fromUsername, to.username);
          case 'dual-password':
            return engine.keepOnlyPassword(to.username, to.password);
          case 'single':
            return; // the old password stopped working at apply
        }
      });
      await store.markRevoked(plan.credentialId, plan.fromVersion, actor);
    },

    async recordAudit(credentialId, action, details) {
      await store.audit({ actor, credentialId, action, details });
    },
  });
}

/**
 * Grace, migration and drain timeouts of this run. An emergency bounds every
 * wait by a short grace and forces the revoke (drain 0: sessions are ended).
 */
function timings(def: CredentialDefinition, input: RotationInput) {
  if (input.emergency) {
    const graceMs = input.graceMs ?? DEFAULT_EMERGENCY_GRACE_MS;
    return {
      graceMs,
      migrationTimeoutMs: Math.min(input.migrationTimeoutMs ?? graceMs, graceMs),
      drainTimeoutMs: 0,
    };
  }
  return {
    graceMs: input.graceMs ?? def.policy.graceMs,
    migrationTimeoutMs: input.migrationTimeoutMs ?? def.policy.migrationTimeoutMs,
    drainTimeoutMs: input.drainTimeoutMs ?? def.policy.drainTimeoutMs,
  };
}

/** Picks the strategy from the live server's capabilities; "auto" prefers native dual passwords. */
export function chooseStrategy(
  def: CredentialDefinition,
  supported: Record<ResolvedStrategy, { supported: boolean; reason: string }>,
): { strategy: ResolvedStrategy; reason: string } {
  if (def.strategy === 'auto') {
    if (supported['dual-password'].supported) {
      return { strategy: 'dual-password', reason: `auto: ${supported['dual-password'].reason}` };
    }
    if (supported['dual-user'].supported) {
      return {
        strategy: 'dual-user',
        reason: `auto: no dual passwords (${supported['dual-password'].reason}); ${supported['dual-user'].reason}`,
      };
    }
    throw new UnsupportedStrategyError(
      `credential "${def.id}": server supports neither dual-password nor dual-user; choose "single" explicitly`,
    );
  }
  const s = supported[def.strategy];
  if (!s.supported) {
    throw new UnsupportedStrategyError(
      `credential "${def.id}": strategy "${def.strategy}" not supported: ${s.reason}`,
    );
  }
  return { strategy: def.strategy, reason: `configured: ${s.reason}` };
}

/**
 * The admin connection for a credential. Always the admin's CURRENT version,
 * read per activity: when the admin credential itself is rotated, in-flight
 * rotations that depend on it move to the new admin login after its promote
 * (both work during its grace). A credential without adminCredentialId is an
 * admin and manages itself.
 */
async function connectionFor(store: CredentialStore, def: CredentialDefinition): Promise<EngineConnection> {
  const admin = await store.getSecret(def.adminCredentialId ?? def.id, 'CURRENT');
  return {
    host: def.host,
    port: def.port,
    database: def.database,
    admin: { username: admin.username, password: admin.password },
    options: def.options,
  };
}

/**
 * Maps our errors to Temporal failures in one place: permanent classes become
 * non-retryable with their code as the type; the message never holds a secret.
 */
function classified<T extends object>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        throw toFailure(err, name);
      }
    };
  }
  return wrapped as T;
}

function toFailure(err: unknown, activity: string): unknown {
  if (err instanceof RotatorError) {
    const details = err instanceof PrivilegeParityError ? [{ missing: err.differences }] : [];
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: !err.retryable,
      details,
    });
  }
  const attempt = safeAttempt();
  // Unknown errors are retried; keep only the message (driver errors may echo connection strings).
  const message = err instanceof Error ? err.message : String(err);
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
