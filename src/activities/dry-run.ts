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
import type { DryRunRecorder, Engine, EngineConnection, Secret } from '../engines/types';
import type { PlanningActivities } from '../shared/activities';
import type { RotationDryRun, RotationInput, RotationPlan } from '../shared/types';
import type { CredentialDefinition } from '../store/types';
import { describeDelivery } from './delivery';
import { resolveTls, tlsWarning } from '../engines/tls';
import { Blockers, connectionFor, currentToRotate, planOnServer } from './plan';
import { applyStep, classified, revokeStep, type RotationDeps } from './rotation';

/** Stands in for the new password; it reaches only recorded statements, which redact it. */
export const PLACEHOLDER_PASSWORD = 'dry-run-placeholder-never-set';

export function createPlanningActivities(deps: RotationDeps): PlanningActivities {
  const { store } = deps;
  const actor = deps.actor ?? 'worker';

  async function withRecordingEngine<T>(
    def: CredentialDefinition,
    conn: EngineConnection,
    recorder: DryRunRecorder,
    fn: (engine: Engine) => Promise<T>,
  ): Promise<T> {
    const engine = deps.createEngine(def.engine, { ...conn, dryRun: recorder });
    try {
      return await fn(engine);
    } finally {
      await engine.close();
    }
  }

  return classified({
    async planRotation(input: RotationInput): Promise<RotationDryRun> {
      const def = await store.getDefinition(input.credentialId);
      const blockers = new Blockers(true);
      const notes = new Set<string>();
      const tlsOff = tlsWarning(resolveTls(def.tls, def.host));
      if (tlsOff) notes.add(tlsOff);
      const apply: string[] = [];
      const revoke: string[] = [];
      const recorder = (into: string[]): DryRunRecorder => ({
        record: (statement) => void into.push(statement),
        note: (message) => void notes.add(message),
      });
      const out: RotationDryRun = {
        credentialId: def.id,
        engine: def.engine,
        statements: { apply, revoke },
        privilegesToClone: [],
        openSessions: [],
        blockers: [],
        notes: [],
        plannedAt: new Date().toISOString(),
      };
      if (def.targets?.length) {
        const delivery = await describeDelivery(def, process.env);
        out.delivery = delivery.lines;
        for (const b of delivery.blockers) blockers.addMessage(b);
      }

      /**
       * A step in dry-run mode. A failing rotation step is a blocker, or a
       * note when blockers already explain it; a failing listing is a note.
       */
      const step = async (name: string, run: () => Promise<void>, rotationStep = true) => {
        try {
          await run();
        } catch (err) {
          if (err instanceof TransientError || !(err instanceof Error)) throw err;
          if (rotationStep && blockers.found.length === 0) {
            blockers.addMessage(`the ${name} step would fail: ${err.message}`);
          } else {
            notes.add(
              `${rotationStep ? `the ${name} step stops here` : `${name}: not available`}: ${err.message}`,
            );
          }
        }
      };

      const secrets: string[] = [PLACEHOLDER_PASSWORD];
      const current = await currentToRotate(store, def, blockers);
      let plan: RotationPlan | undefined;
      // The admin scope is checked before any connection: a blocker, and nothing is contacted.
      const conn = current && (await blockers.guard(() => connectionFor(store, def)));
      if (current && conn) {
        const from = await store.getSecret(def.id, current.version);
        secrets.push(conn.admin.password, from.password);
        const to: Secret = { username: current.username, password: PLACEHOLDER_PASSWORD };

        await withRecordingEngine(def, conn, recorder(apply), async (engine) => {
          const planned = await planOnServer(store, def, input, current, engine, blockers);
          plan = planned.plan;
          if (planned.window.note) notes.add(planned.window.note);
          if (planned.server) out.serverVersion = `${planned.server.variant} ${planned.server.version}`;
          await step(
            'open sessions',
            async () => {
              out.openSessions = await engine.listSessions(current.username);
            },
            false,
          );
          if (!plan) return;
          to.username = plan.toUsername;
          out.plan = plan;
          out.strategy = plan.strategy;
          out.strategyReason = plan.strategyReason;
          for (const w of plan.warnings) notes.add(w);
          if (plan.strategy === 'dual-user') {
            const exists = (await blockers.guard(() => engine.loginExists(plan!.toUsername))) ?? false;
            out.loginToCreateOrAlter = {
              action: 'create',
              login: plan.toUsername,
              like: from.username,
              exists,
            };
            if (exists) {
              notes.add(
                `login "${plan.toUsername}" exists already (left over?); apply re-syncs its password and privileges with "${from.username}"`,
              );
            }
          } else {
            out.loginToCreateOrAlter = {
              action: plan.strategy === 'dual-password' ? 'add-password' : 'set-password',
              login: plan.fromUsername,
            };
          }
          await step('apply', () => applyStep(engine, plan!, from, to));
          if (plan.strategy === 'dual-user') {
            await step(
              'privileges to clone',
              async () => {
                out.privilegesToClone = (await engine.comparePrivileges(from.username, to.username)).missing;
              },
              false,
            );
          }
        });

        if (plan) {
          await withRecordingEngine(def, conn, recorder(revoke), (engine) =>
            step('revoke', () => revokeStep(engine, plan!, to)),
          );
          notes.add(strategyNote(plan, out.openSessions.length));
        }
      }

      // Defence in depth: the engines redact, and no known secret may pass either way.
      const forms = secrets.flatMap((secret) => secretFormsOf(def.engine, secret));
      const clean = (text: string) => redactValues(text, forms);
      out.statements = { apply: apply.map(clean), revoke: revoke.map(clean) };
      out.privilegesToClone = out.privilegesToClone.map(clean);
      out.blockers = blockers.found.map(clean);
      out.notes = [...notes].map(clean);

      await store.audit({
        actor,
        credentialId: def.id,
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
      return out;
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
