/**
 * What preflight decides, in one place for the rotation and its dry run:
 * the rotation's preflight throws the first problem (as it always did), the
 * dry run (./dry-run.ts) collects every problem and keeps planning where it
 * can. Same checks, same order, one source of truth.
 */
import { describeTargetSpec } from '../targets/schema';
import {
  StoreStateError,
  UnsafeIdentifierError,
  UnsupportedStrategyError,
  type RotatorError,
} from '../errors';
import { isPermanent } from '../engines/checks';
import type { Engine, EngineConnection, ServerInfo } from '../engines/types';
import {
  DEFAULT_CONSUMER_EXPIRY_MS,
  DEFAULT_EMERGENCY_GRACE_MS,
  DEFAULT_MAX_CONSUMERS,
} from '../shared/constants';
import type { ResolvedStrategy, RotationInput, RotationPlan } from '../shared/types';
import { nextVersion } from '../store/transitions';
import type { CredentialDefinition, CredentialStore, VersionMeta } from '../store/types';
import { resolveTls, tlsWarning } from '../engines/tls';
import { assertAdminScope } from './admin-scope';
import { nextLoginName } from './login-names';
import { checkRotationWindow, type WindowCheck } from './window-check';

/** Problems found while planning: thrown at once (preflight) or collected (dry run). */
export class Blockers {
  readonly found: string[] = [];

  constructor(readonly collect: boolean) {}

  add(err: RotatorError): void {
    if (!this.collect) throw err;
    this.addMessage(err.message);
  }

  /** A problem found outside the checks (a dry-run step that would fail). */
  addMessage(message: string): void {
    if (!this.found.includes(message)) this.found.push(message);
  }

  /** Runs a check; when collecting, a permanent error becomes a blocker and the result undefined. */
  async guard<T>(check: () => Promise<T>): Promise<T | undefined> {
    try {
      return await check();
    } catch (err) {
      if (!this.collect || !isPermanent(err)) throw err;
      this.add(err);
      return undefined;
    }
  }

  /** The engine's checks of `login` for `strategy`: all of them, or the first thrown. */
  async engine(engine: Engine, login: string, strategy: ResolvedStrategy): Promise<void> {
    for (const problem of await engine.check(login, strategy)) this.add(problem);
  }
}

/**
 * The store's side of preflight, before any server is contacted: the CURRENT
 * version to rotate from (undefined when there is none) and no unfinished
 * PENDING one.
 */
export async function currentToRotate(
  store: CredentialStore,
  def: CredentialDefinition,
  blockers: Blockers,
): Promise<VersionMeta | undefined> {
  const current = await store.getVersion(def.id, 'CURRENT');
  if (!current) {
    blockers.add(new StoreStateError(`credential "${def.id}" has no CURRENT version to rotate`));
    return undefined;
  }
  const pending = await store.getVersion(def.id, 'PENDING');
  if (pending) {
    blockers.add(
      new StoreStateError(
        `credential "${def.id}" has a PENDING version ${pending.version} from an unfinished rotation; discard it first`,
      ),
    );
  }
  return current;
}

/**
 * The server's side: detect the server, pick the strategy, name the next
 * version and login, run the engine's checks. `plan` is undefined when a
 * blocker leaves nothing to plan (unsupported server or strategy).
 */
export async function planOnServer(
  store: CredentialStore,
  def: CredentialDefinition,
  input: RotationInput,
  current: VersionMeta,
  engine: Engine,
  blockers: Blockers,
): Promise<{ plan?: RotationPlan; server?: ServerInfo; window: WindowCheck }> {
  const window = checkRotationWindow(def, input, blockers);
  const server = await blockers.guard(() => engine.describe());
  if (!server) return { window };
  const choice = await blockers.guard(async () => chooseStrategy(def, server.strategies));
  if (!choice) return { server, window };
  const { strategy, reason } = choice;
  // Above every version ever stored, not CURRENT + 1: a rolled-back version may still exist.
  const toVersion = nextVersion(await store.listVersions(def.id));
  const toUsername =
    strategy === 'dual-user' ? nextLoginName(def, current.username, toVersion) : current.username;
  const previous = await store.getVersion(def.id, 'PREVIOUS');
  if (previous && previous.username === toUsername && strategy === 'dual-user') {
    blockers.add(
      new StoreStateError(
        `credential "${def.id}": previous version ${previous.version} (login "${toUsername}") is not revoked yet`,
      ),
    );
  }
  await blockers.engine(engine, current.username, strategy);
  if (strategy === 'dual-user') await blockers.guard(() => checkNewLoginName(engine, toUsername));
  const warnings: string[] = [];
  const tlsOff = tlsWarning(resolveTls(def.tls, def.host));
  if (tlsOff) warnings.push(tlsOff);
  if (strategy === 'single') {
    warnings.push(
      'strategy "single" changes the password in place: clients using the old one fail until they reload',
    );
  }
  if (window.overridden) warnings.push(window.note!);
  return {
    server,
    window,
    plan: {
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
      window: window.window,
      targets: def.targets?.length ? def.targets.map(describeTargetSpec) : undefined,
    },
  };
}

/**
 * dual-user: the server must be able to hold the new login's name ("<base>_b"
 * can exceed PostgreSQL's 63 bytes). Checked here, before anything changed:
 * at apply it is too late, as even the undo (dropping that login) fails on
 * the same name and the PENDING version stays behind.
 */
async function checkNewLoginName(engine: Engine, login: string): Promise<void> {
  try {
    await engine.loginExists(login);
  } catch (err) {
    if (err instanceof UnsafeIdentifierError) {
      throw new UnsafeIdentifierError(`new login "${login}": ${err.message}`);
    }
    throw err;
  }
}

/** The timings of this run: its waits and the consumer table's bounds. */
function timings(def: CredentialDefinition, input: RotationInput) {
  return { ...waits(def, input), ...consumerTable(input) };
}

/** The consumer table's bounds (the workflow's defaults unless the run overrides them). */
function consumerTable(input: RotationInput) {
  return {
    consumerExpiryMs: positiveOr(input.consumerExpiryMs, DEFAULT_CONSUMER_EXPIRY_MS),
    maxConsumers: positiveOr(input.maxConsumers, DEFAULT_MAX_CONSUMERS),
  };
}

function positiveOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isSafeInteger(v) && v > 0 ? v : fallback;
}

/**
 * Grace, migration, drain and consumer discovery of this run (the run's
 * values, else the policy's). An emergency bounds every wait by a short grace
 * and forces the revoke (drain 0: sessions are ended).
 */
function waits(def: CredentialDefinition, input: RotationInput) {
  if (input.emergency) {
    const graceMs = input.graceMs ?? DEFAULT_EMERGENCY_GRACE_MS;
    return {
      graceMs,
      migrationTimeoutMs: Math.min(input.migrationTimeoutMs ?? graceMs, graceMs),
      drainTimeoutMs: 0,
      consumerDiscoveryMs: Math.min(input.consumerDiscoveryMs ?? def.policy.consumerDiscoveryMs, graceMs),
    };
  }
  return {
    graceMs: input.graceMs ?? def.policy.graceMs,
    migrationTimeoutMs: input.migrationTimeoutMs ?? def.policy.migrationTimeoutMs,
    drainTimeoutMs: input.drainTimeoutMs ?? def.policy.drainTimeoutMs,
    consumerDiscoveryMs: input.consumerDiscoveryMs ?? def.policy.consumerDiscoveryMs,
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
export async function connectionFor(
  store: CredentialStore,
  def: CredentialDefinition,
): Promise<EngineConnection> {
  // The admin's password goes only to the admin's own server (before any connection).
  if (def.adminCredentialId) assertAdminScope(def, await store.getDefinition(def.adminCredentialId));
  const admin = await store.getSecret(def.adminCredentialId ?? def.id, 'CURRENT');
  return {
    host: def.host,
    port: def.port,
    database: def.database,
    admin: { username: admin.username, password: admin.password },
    options: def.options,
    tls: resolveTls(def.tls, def.host),
  };
}
