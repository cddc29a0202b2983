/**
 * Dry run of a rotation (`rotate <credential> --dry-run`): the plan preflight
 * would make, every blocker instead of the first, the statements the apply
 * and revoke steps would run (from engines in dry-run mode, secrets
 * redacted), the privileges a new login would get and the sessions open now.
 *
 * Nothing changes: no login, grant, store version or audit record, except one
 * audit record "rotation-planned". No password is generated or stored; the
 * engines get a placeholder that only ever reaches recorded (never executed)
 * statements, and is redacted there like every other secret.
 */
import { Context } from '@temporalio/activity';
import { TransientError } from '../errors';
import { secretFormsOf } from '../engines';
import { redactValues } from '../engines/redaction';
import type { DryRunRecorder, Engine, EngineConnection, Secret, SessionInfo } from '../engines/types';
import type { PlanningActivities } from '../shared/activities';
import type { RotationDryRun, RotationInput, RotationPlan } from '../shared/types';
import type { CredentialDefinition, CredentialStore, VersionMeta } from '../store/types';
import { describeDelivery } from './delivery';
import { dryRunNodes } from './dry-run-nodes';
import { resolveTls, tlsWarning } from '../engines/tls';
import { Blockers, connectionFor, currentToRotate, planOnServer } from './plan';
import { applyStep, classified, revokeStep, type RotationDeps } from './rotation';

/** Stands in for the new password; it reaches only recorded statements, which redact it. */
export const PLACEHOLDER_PASSWORD = 'dry-run-placeholder-never-set';

export function createPlanningActivities(deps: RotationDeps): PlanningActivities {
  const actor = deps.actor ?? 'worker';
  return classified({
    async planRotation(input: RotationInput): Promise<RotationDryRun> {
      const { store } = deps;
      const def = await store.getDefinition(input.credentialId);
      const plannedAt = new Date().toISOString();
      const findings = new Findings(def);
      const delivery = def.targets?.length ? await deliveryLines(def, findings) : undefined;
      const current = await currentToRotate(store, def, findings.blockers);
      // The admin scope is checked before any connection: a blocker, and nothing is contacted.
      const conn = current && (await findings.blockers.guard(() => connectionFor(store, def)));
      const server =
        current && conn ? await dryRunOnServer(deps, { def, input, current, conn }, findings) : undefined;
      const nodes =
        current && conn && def.nodes?.length
          ? await dryRunNodes(deps, def, conn, current.username, server?.plan, findings.blockers)
          : undefined;
      const dryRun = report({ def, plannedAt, delivery, server, nodes }, findings);
      await auditPlan(store, actor, input, server?.plan, dryRun);
      return dryRun;
    },
  });
}

/**
 * What a dry run collects on its way: every blocker, notes (a Set: each
 * once, in the order found) and the statements the engines recorded.
 */
class Findings {
  readonly blockers = new Blockers(true);
  readonly notes = new Set<string>();
  readonly apply: string[] = [];
  readonly revoke: string[] = [];

  constructor(def: CredentialDefinition) {
    const tlsOff = tlsWarning(resolveTls(def.tls, def.host));
    if (tlsOff) this.notes.add(tlsOff);
  }

  /** A recorder that keeps the engine's statements in `into` and its notes here. */
  recorder(into: string[]): DryRunRecorder {
    return {
      record: (statement) => void into.push(statement),
      note: (message) => void this.notes.add(message),
    };
  }

  /**
   * A step in dry-run mode: its value, or undefined when it fails. A failing
   * rotation step is a blocker, or a note when blockers already explain it; a
   * failing listing (`rotationStep` false) is a note.
   */
  async step<T>(name: string, run: () => Promise<T>, rotationStep = true): Promise<T | undefined> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof TransientError || !(err instanceof Error)) throw err;
      if (rotationStep && this.blockers.found.length === 0) {
        this.blockers.addMessage(`the ${name} step would fail: ${err.message}`);
      } else {
        this.notes.add(
          `${rotationStep ? `the ${name} step stops here` : `${name}: not available`}: ${err.message}`,
        );
      }
      return undefined;
    }
  }
}

/** The delivery targets' lines; their problems are blockers. */
async function deliveryLines(def: CredentialDefinition, findings: Findings): Promise<string[]> {
  const delivery = await describeDelivery(def, process.env);
  for (const b of delivery.blockers) findings.blockers.addMessage(b);
  return delivery.lines;
}

/** A credential that passed the store's side of preflight, and its admin connection. */
interface Rotatable {
  def: CredentialDefinition;
  input: RotationInput;
  current: VersionMeta;
  conn: EngineConnection;
}

/** What the server's side of the dry run found (besides the findings' statements and notes). */
interface ServerFindings {
  serverVersion?: string;
  openSessions: SessionInfo[];
  plan?: RotationPlan;
  login?: RotationDryRun['loginToCreateOrAlter'];
  privilegesToClone: string[];
  /** Secrets that may appear in recorded text: the admin's and the current password. */
  secrets: string[];
}

/** Plans on the live server, then runs apply and revoke on recording engines (nothing executes). */
async function dryRunOnServer(deps: RotationDeps, r: Rotatable, findings: Findings): Promise<ServerFindings> {
  const from = await deps.store.getSecret(r.def.id, r.current.version);
  const applied = await withRecordingEngine(deps, r, findings.recorder(findings.apply), (engine) =>
    dryRunApply(deps.store, engine, r, from, findings),
  );
  const { plan } = applied;
  if (plan) {
    const to: Secret = { username: plan.toUsername, password: PLACEHOLDER_PASSWORD };
    await withRecordingEngine(deps, r, findings.recorder(findings.revoke), (engine) =>
      findings.step('revoke', () => revokeStep(engine, plan, to)),
    );
    findings.notes.add(strategyNote(plan, applied.openSessions.length));
  }
  return { ...applied, secrets: [r.conn.admin.password, from.password] };
}

async function withRecordingEngine<T>(
  deps: RotationDeps,
  r: Rotatable,
  recorder: DryRunRecorder,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const engine = deps.createEngine(r.def.engine, { ...r.conn, dryRun: recorder });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** Preflight's plan, the open sessions, the login change, the apply step and the privileges to clone. */
async function dryRunApply(
  store: CredentialStore,
  engine: Engine,
  r: Rotatable,
  from: Secret,
  findings: Findings,
): Promise<Omit<ServerFindings, 'secrets'>> {
  const planned = await planOnServer(store, r.def, r.input, r.current, engine, findings.blockers);
  if (planned.window.note) findings.notes.add(planned.window.note);
  const serverVersion = planned.server ? `${planned.server.variant} ${planned.server.version}` : undefined;
  const openSessions =
    (await findings.step('open sessions', () => engine.listSessions(r.current.username), false)) ?? [];
  const { plan } = planned;
  if (!plan) return { serverVersion, openSessions, privilegesToClone: [] };
  for (const w of plan.warnings) findings.notes.add(w);
  const login = await loginChange(engine, plan, from, findings);
  const to: Secret = { username: plan.toUsername, password: PLACEHOLDER_PASSWORD };
  await findings.step('apply', () => applyStep(engine, plan, from, to));
  const privilegesToClone =
    plan.strategy === 'dual-user'
      ? ((await findings.step(
          'privileges to clone',
          async () => (await engine.comparePrivileges(from.username, to.username)).missing,
          false,
        )) ?? [])
      : [];
  return { serverVersion, openSessions, plan, login, privilegesToClone };
}

/** The login the apply step would create (dual-user) or change. */
async function loginChange(
  engine: Engine,
  plan: RotationPlan,
  from: Secret,
  findings: Findings,
): Promise<RotationDryRun['loginToCreateOrAlter']> {
  if (plan.strategy !== 'dual-user') {
    return {
      action: plan.strategy === 'dual-password' ? 'add-password' : 'set-password',
      login: plan.fromUsername,
    };
  }
  const exists = (await findings.blockers.guard(() => engine.loginExists(plan.toUsername))) ?? false;
  if (exists) {
    findings.notes.add(
      `login "${plan.toUsername}" exists already (left over?); apply re-syncs its password and privileges with "${from.username}"`,
    );
  }
  return { action: 'create', login: plan.toUsername, like: from.username, exists };
}

/**
 * The dry run as returned. Defence in depth: the engines redact, and no known
 * secret may pass either way.
 */
function report(
  parts: {
    def: CredentialDefinition;
    plannedAt: string;
    delivery?: string[];
    server?: ServerFindings;
    nodes?: string[];
  },
  findings: Findings,
): RotationDryRun {
  const { def, server } = parts;
  const forms = [PLACEHOLDER_PASSWORD, ...(server?.secrets ?? [])].flatMap((secret) =>
    secretFormsOf(def.engine, secret),
  );
  const clean = (text: string) => redactValues(text, forms);
  const plan = server?.plan;
  return {
    credentialId: def.id,
    engine: def.engine,
    statements: { apply: findings.apply.map(clean), revoke: findings.revoke.map(clean) },
    privilegesToClone: (server?.privilegesToClone ?? []).map(clean),
    openSessions: server?.openSessions ?? [],
    blockers: findings.blockers.found.map(clean),
    notes: [...findings.notes].map(clean),
    plannedAt: parts.plannedAt,
    ...(parts.delivery ? { delivery: parts.delivery } : {}),
    ...(parts.nodes ? { nodes: parts.nodes.map(clean) } : {}),
    ...(server?.serverVersion ? { serverVersion: server.serverVersion } : {}),
    ...(plan ? { plan, strategy: plan.strategy, strategyReason: plan.strategyReason } : {}),
    ...(server?.login ? { loginToCreateOrAlter: server.login } : {}),
  };
}

/** The one audit record of a dry run ("rotation-planned"); it holds counts, never statements. */
async function auditPlan(
  store: CredentialStore,
  actor: string,
  input: RotationInput,
  plan: RotationPlan | undefined,
  out: RotationDryRun,
): Promise<void> {
  await store.audit({
    actor,
    credentialId: out.credentialId,
    action: 'rotation-planned',
    details: {
      by: input.requestedBy ?? 'unknown',
      reason: input.reason,
      strategy: plan?.strategy,
      fromVersion: plan?.fromVersion,
      toVersion: plan?.toVersion,
      toUsername: plan?.toUsername,
      blocked: out.blockers.length > 0,
      blockers: out.blockers.length,
      statements: out.statements.apply.length + out.statements.revoke.length,
      workflowId: workflowId(),
    },
  });
}

/** What the operator should know about the strategy beyond its statements. */
function strategyNote(plan: RotationPlan, openSessions: number): string {
  const grace = `${Math.round(plan.graceMs / 60_000)} min`;
  switch (plan.strategy) {
    case 'dual-user':
      return `the revoke statements run after grace (${grace}) and after sessions of "${plan.fromUsername}" drained (${openSessions} open now; up to ${Math.round(plan.drainTimeoutMs / 1000)} s, then they are ended); they are computed from the server's state now`;
    case 'dual-password':
      return `both passwords of "${plan.fromUsername}" work during grace (${grace}); sessions cannot be told apart by password, so consumer heartbeats decide; the revoke statement is computed from the server's state now`;
    case 'single':
      return `nothing to revoke: the old password stops working at apply`;
  }
}

function workflowId(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.workflowId;
  } catch {
    return undefined;
  }
}
