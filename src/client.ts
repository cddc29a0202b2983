import { registerTargetCommands } from './cli/targets';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type ScheduleHandle,
} from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import { registerCommands } from './cli/register';
import { scheduleStart } from './cli/schedule-start';
import { checkStartWindow, windowLine } from './cli/window';
import { createCodecServer, type CodecServerOptions } from './codec/server';
import { readDefinitionFile, registerStoreCommands } from './cli/store-commands';
import { formatHistory, rotationHistory, type RotationHistoryEntry } from './history';
import { loadConfig, type RotatorConfig } from './config';
import { RotatorError } from './errors';
import { connectClient, openConfiguredStore } from './runtime';
import { planWorkflowId, rotationWorkflowId } from './shared/constants';
import {
  abortUpdate,
  extendGraceUpdate,
  finishGraceUpdate,
  resolveUpdate,
  rollbackUpdate,
} from './shared/messages';
import {
  extendGraceRequestSchema,
  operatorRequestSchema,
  parseOperatorRequest,
  resolveRequestSchema,
  type OperatorReply,
} from './shared/operator-requests';
import { failureCause, readRotation, type RotationView } from './rotation-view';
import { rotationInputProblems } from './shared/rotation-input';
import type {
  ConsumerStatus,
  FleetInput,
  FleetSummary,
  RotationDryRun,
  RotationInput,
  RotationResult,
  RotationStatus,
} from './shared/types';
import {
  createExpirySweepSchedule,
  createRotationSchedule,
  describeScheduleLine,
  rotationScheduleId,
} from './schedules';

/** Exit codes a script can rely on. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notRotated: 3,
  conflict: 4,
  notFound: 5,
  /** A dry run found blockers: the rotation would not go through. */
  blocked: 6,
  /** The rotation failed, or its run was terminated, timed out or cancelled. */
  failed: 7,
  /** The rotation waits for an operator (`resolve`). */
  needsOperator: 8,
} as const;

/** The exit code that describes a rotation's state (status and rotate --wait). */
export function exitCodeFor(view: Pick<RotationView, 'outcome' | 'phase' | 'stuck'>): number {
  if (view.stuck) return EXIT.failed;
  if (view.phase === 'needs-operator') return EXIT.needsOperator;
  switch (view.outcome) {
    case undefined:
    case 'rotated':
    case 'planned':
      return EXIT.ok;
    case 'aborted':
    case 'rolled-back':
      return EXIT.notRotated;
    default:
      return EXIT.failed;
  }
}

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function duration(value: string): number {
  try {
    const ms = /^\d+$/.test(value) ? Number(value) : msToNumber(value as never);
    if (!Number.isFinite(ms) || ms < 0) throw new Error();
    return ms;
  } catch {
    throw new InvalidArgumentError(`not a duration: "${value}" (examples: 90s, 15m, 24h, 7d)`);
  }
}

/** Starts the rotation of one credential; the fixed workflow id makes a second start fail. */
export async function startRotation(client: Client, cfg: RotatorConfig, input: RotationInput) {
  const problems = rotationInputProblems(input);
  if (problems) throw new CliError(`invalid rotation input: ${problems}`, EXIT.usage);
  await assertRotatable(cfg, input.credentialId);
  try {
    return await client.workflow.start('rotateCredential', {
      args: [input],
      taskQueue: cfg.temporal.taskQueue,
      workflowId: rotationWorkflowId(input.credentialId),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(`a rotation of "${input.credentialId}" is already running`, EXIT.conflict);
    }
    throw err;
  }
}

/**
 * Refuses, before anything starts, a credential the store does not know or
 * whose definition does not parse, or that has no CURRENT version to rotate.
 */
async function assertRotatable(cfg: RotatorConfig, credentialId: string): Promise<void> {
  const store = await openConfiguredStore(cfg);
  try {
    await store.getDefinition(credentialId);
    if (!(await store.getVersion(credentialId, 'CURRENT')))
      throw new CliError(
        `credential "${credentialId}" has no CURRENT version: import it first (credentials import)`,
        EXIT.usage,
      );
  } finally {
    await store.close();
  }
}

/** A dry run with the consumers the credential's latest rotation knows (if any). */
export type DryRunReport = RotationDryRun & { knownConsumers: ConsumerStatus[] };

/**
 * Runs the rotation workflow in dry-run mode under its own id (a rotation of
 * the credential may be running) and returns the plan.
 */
export async function planRotation(
  client: Client,
  cfg: RotatorConfig,
  input: RotationInput,
): Promise<DryRunReport> {
  const handle = await client.workflow.start('rotateCredential', {
    args: [{ ...input, dryRun: true }],
    taskQueue: cfg.temporal.taskQueue,
    workflowId: planWorkflowId(input.credentialId),
  });
  let result: RotationResult;
  try {
    result = (await handle.result()) as RotationResult;
  } catch (err) {
    const cause = rootFailure(err);
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    const message = cause instanceof Error ? cause.message : String(cause);
    if (type === 'UnknownCredentialError') throw new CliError(message, EXIT.notFound);
    throw new CliError(`dry run failed: ${type ? `${type}: ` : ''}${message}`, EXIT.error);
  }
  if (!result.dryRun)
    throw new CliError('the worker returned no plan (is it older than this CLI?)', EXIT.error);
  return { ...result.dryRun, knownConsumers: await knownConsumers(client, input.credentialId) };
}

function rootFailure(err: unknown): unknown {
  let e = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error)
    e = (e as { cause?: unknown }).cause;
  return e;
}

/** Consumers the running or last rotation of the credential heard from (from its memo); none if there is none. */
async function knownConsumers(client: Client, credentialId: string): Promise<ConsumerStatus[]> {
  try {
    return (await readRotation(client, credentialId)).status?.consumers ?? [];
  } catch {
    return [];
  }
}

export function formatDryRun(d: DryRunReport): string {
  const lines = [`dry run      ${d.credentialId} (nothing was changed)`];
  lines.push(`engine       ${d.engine}${d.serverVersion ? ` (${d.serverVersion})` : ''}`);
  if (d.strategy) lines.push(`strategy     ${d.strategy} — ${d.strategyReason ?? ''}`);
  if (d.plan) {
    const p = d.plan;
    lines.push(`versions     ${p.fromVersion} (${p.fromUsername}) → ${p.toVersion} (${p.toUsername})`);
    lines.push(
      `timings      grace ${ms(p.graceMs)}, migration timeout ${ms(p.migrationTimeoutMs)}, drain timeout ${ms(p.drainTimeoutMs)}`,
    );
    if (p.emergency) lines.push(`EMERGENCY    ${p.emergency.reason}`);
  }
  const l = d.loginToCreateOrAlter;
  if (l) {
    const what =
      l.action === 'create'
        ? `${l.exists ? 're-sync existing' : 'create'} "${l.login}" like "${l.like ?? ''}"`
        : `${l.action === 'add-password' ? 'add a second password to' : 'replace the password of'} "${l.login}"`;
    lines.push(`login        ${what}`);
  }
  lines.push(d.blockers.length === 0 ? 'blockers     none' : `blockers     ${d.blockers.length}`);
  for (const b of d.blockers) lines.push(`  ✗ ${b}`);
  const list = (title: string, items: string[]) => {
    lines.push(`${title} (${items.length})`);
    for (const item of items) lines.push(`  ${item}`);
  };
  list('apply statements', d.statements.apply);
  list('revoke statements, after grace', d.statements.revoke);
  if (d.strategy === 'dual-user') list('privileges to clone', d.privilegesToClone);
  list(
    `open sessions of "${d.plan?.fromUsername ?? 'the login'}"`,
    d.openSessions.map(
      (s) =>
        `${s.id} ${s.username}${s.clientAddress ? ` from ${s.clientAddress}` : ''}${s.state ? `, ${s.state}` : ''}${s.ageSeconds !== undefined ? `, ${s.ageSeconds} s` : ''}`,
    ),
  );
  list(
    'consumers known from the last rotation',
    d.knownConsumers.map((c) => `${c.consumerId} v${c.version} (seen ${c.lastSeen})`),
  );
  list('notes', d.notes);
  lines.push(d.blockers.length === 0 ? 'result       the rotation can run' : 'result       BLOCKED');
  return lines.join('\n');
}

function ms(value: number): string {
  if (value % 3_600_000 === 0) return `${value / 3_600_000}h`;
  if (value % 60_000 === 0) return `${value / 60_000}m`;
  if (value % 1000 === 0) return `${value / 1000}s`;
  return `${value}ms`;
}

export function formatView(v: RotationView): string {
  const lines = [`run          ${v.workflowId} ${v.runId} (${v.execution})`];
  if (v.outcome) lines.push(`outcome      ${v.outcome}`);
  if (v.cause) lines.push(`cause        ${v.cause}`);
  if (v.stuck) lines.push(`STUCK        ${v.stuck}`);
  if (v.status) lines.push(formatStatus(v.status));
  else lines.push(`phase        ${v.phase}`);
  return lines.join('\n');
}

export function formatStatus(s: RotationStatus): string {
  const lines = [
    `credential   ${s.credentialId}`,
    `phase        ${s.phase}${s.outcome ? ` (${s.outcome})` : ''}`,
  ];
  if (s.needsOperator) {
    lines.push(
      `NEEDS OPERATOR  step ${s.needsOperator.step} keeps failing since ${s.needsOperator.since}: ${s.needsOperator.error}`,
      `             db-rotator resolve ${s.credentialId} --retry | --abandon --reason <why>`,
    );
  }
  if (s.plan) {
    lines.push(
      `engine       ${s.plan.engine} (${s.plan.serverVersion})`,
      `strategy     ${s.plan.strategy} — ${s.plan.strategyReason}`,
      `versions     ${s.plan.fromVersion} (${s.plan.fromUsername}) → ${s.plan.toVersion} (${s.plan.toUsername})`,
    );
    if (s.plan.emergency) lines.push(`EMERGENCY    ${s.plan.emergency.reason}`);
    for (const w of s.plan.warnings) lines.push(`warning      ${w}`);
  }
  if (s.migrationDeadline) lines.push(`migrate by   ${s.migrationDeadline}`);
  if (s.graceDeadline) lines.push(`grace until  ${s.graceDeadline}`);
  if (s.abortRequested) lines.push(`abort        ${s.abortRequested}`);
  if (s.rollbackRequested) lines.push(`rollback     ${s.rollbackRequested}`);
  if (s.lastError) lines.push(`last error   ${s.lastError}`);
  const gone = s.consumers.filter((c) => c.gone).length;
  lines.push(
    `consumers    ${s.consumers.length} known, ${s.consumersBehind.length} behind, ${gone} gone` +
      (s.consumersOverflow ? `, ${s.consumersOverflow} reports over the cap not stored` : ''),
  );
  for (const c of s.consumers) {
    const mark = c.gone ? '-' : s.consumersBehind.includes(c.consumerId) ? '✗' : '✓';
    lines.push(`  ${mark} ${c.consumerId} v${c.version} (seen ${c.lastSeen}${c.gone ? ', gone' : ''})`);
  }
  lines.push('phases');
  for (const p of s.phases) {
    const ms = p.endedAt ? `${Date.parse(p.endedAt) - Date.parse(p.startedAt)} ms` : 'running';
    lines.push(`  ${p.phase.padEnd(15)} ${ms}`);
  }
  return lines.join('\n');
}

/**
 * Runs that Temporal ended without the workflow writing its closing audit
 * record (terminated, timed out, cancelled): their outcome and cause come
 * from Temporal's visibility. Best effort: without Temporal, the audit alone.
 */
async function addRunsEndedByTemporal(
  cfg: RotatorConfig,
  credentialId: string,
  entries: RotationHistoryEntry[],
): Promise<void> {
  let client: Client;
  try {
    client = await connectClient(cfg);
  } catch {
    console.error('note: Temporal not reachable; runs it ended (terminated, timed out) are not shown');
    return;
  }
  try {
    await mergeEndedRuns(client, credentialId, entries);
  } catch (err) {
    // Best effort: e.g. runs encrypted with codec keys this CLI does not hold.
    console.error(
      `note: runs ended by Temporal not shown (${err instanceof Error ? err.message : String(err)})`,
    );
  } finally {
    await client.connection.close();
  }
}

async function mergeEndedRuns(
  client: Client,
  credentialId: string,
  entries: RotationHistoryEntry[],
): Promise<void> {
  {
    const byRun = new Map(entries.map((e) => [e.runId, e]));
    const query = `WorkflowId = '${rotationWorkflowId(credentialId).replace(/'/g, "\\'")}'`;
    for await (const w of client.workflow.list({ query })) {
      if (!['TERMINATED', 'TIMED_OUT', 'CANCELLED'].includes(w.status.name)) continue;
      const entry = byRun.get(w.runId);
      if (entry && entry.outcome !== 'running' && entry.outcome !== 'needs-operator') continue;
      let cause: string;
      try {
        await client.workflow.getHandle(w.workflowId, w.runId, { followRuns: false }).result();
        cause = w.status.name.toLowerCase();
      } catch (err) {
        cause = failureCause(err);
      }
      const outcome = w.status.name.toLowerCase().replace('_', '-');
      if (entry) Object.assign(entry, { outcome, error: cause, endedAt: w.closeTime?.toISOString() });
      else
        entries.push({
          runId: w.runId,
          startedAt: w.startTime.toISOString(),
          endedAt: w.closeTime?.toISOString(),
          outcome,
          error: cause,
        });
    }
    entries.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }
}

/** Runs a local validation; its error becomes a usage error (nothing was sent). */
function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), EXIT.usage);
  }
}

/** Sends an operator Update; a rejection by the workflow's validator becomes a clear error. */
const UPDATE_TIMEOUT_MS = 30_000;

async function sendOperatorRequest(
  name: string,
  send: () => Promise<OperatorReply>,
  client?: Client,
): Promise<OperatorReply> {
  try {
    // An Update is accepted by a worker; without one it would wait forever and, unlike a
    // signal, is not recorded until a worker accepts it.
    return client ? await client.connection.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, send) : await send();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw err;
    if (isDeadlineExceeded(err))
      throw new CliError(
        `${name}: no worker accepted the request within ${UPDATE_TIMEOUT_MS / 1000} s; nothing was recorded (is a worker running?)`,
        EXIT.error,
      );
    if (err instanceof WorkflowUpdateFailedError)
      throw new CliError(`${name} rejected: ${failureCause(err.cause)}`, EXIT.conflict);
    throw err;
  }
}

function isDeadlineExceeded(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 4 || /deadline exceeded/i.test(e.message)) return true;
  }
  return false;
}

const WAIT_POLL_MS = 1000;

/**
 * Follows a rotation until it ends or waits for an operator, printing each
 * phase once. It reads describe() (memo and search attributes), never a query.
 */
export async function waitForRotation(client: Client, credentialId: string): Promise<RotationView> {
  let last = '';
  for (;;) {
    const view = await readRotation(client, credentialId);
    const s = view.status;
    const line = `${view.phase}${s && s.consumers.length ? ` — ${s.consumersBehind.length}/${s.consumers.length} consumers behind` : ''}`;
    if (line !== last && view.execution === 'RUNNING') console.log(line);
    last = line;
    if (view.stuck) {
      console.log(`stuck: ${view.stuck}`);
      return view;
    }
    if (view.execution !== 'RUNNING' || view.phase === 'needs-operator') {
      if (view.phase === 'needs-operator')
        console.log(
          `needs operator: ${view.cause ?? ''}\n  db-rotator resolve ${credentialId} --retry | --abandon --reason <why>`,
        );
      else console.log(`outcome: ${view.outcome ?? view.execution}${view.cause ? ` — ${view.cause}` : ''}`);
      return view;
    }
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

function readSecretInput(opts: { passwordStdin?: boolean; passwordFile?: string }): string {
  // Never from argv: process arguments are visible to every user of the machine.
  const raw = opts.passwordFile
    ? readFileSync(opts.passwordFile, 'utf8')
    : opts.passwordStdin
      ? readFileSync(0, 'utf8')
      : undefined;
  if (raw === undefined)
    throw new CliError('give the password with --password-stdin or --password-file', EXIT.usage);
  const password = raw.replace(/\r?\n$/, '');
  if (!password) throw new CliError('empty password', EXIT.usage);
  return password;
}

export function buildCli(): Command {
  const program = new Command('db-rotator')
    .description('Zero-downtime database credential rotation on Temporal')
    .exitOverride()
    .showHelpAfterError();

  const withClient = async <T>(fn: (client: Client, cfg: RotatorConfig) => Promise<T>): Promise<T> => {
    const cfg = loadConfig();
    const client = await connectClient(cfg);
    try {
      return await fn(client, cfg);
    } finally {
      await client.connection.close();
    }
  };
  const handleFor = (client: Client, credentialId: string) =>
    client.workflow.getHandle(rotationWorkflowId(credentialId));

  program
    .command('rotate <credential>')
    .description('start a rotation (one at a time per credential)')
    .option('--grace <duration>', 'grace period before the old credential is revoked', duration)
    .option('--migration-timeout <duration>', 'how long to wait for consumers to move', duration)
    .option('--drain-timeout <duration>', 'how long sessions may drain before they are ended', duration)
    .option('--reason <text>', 'why (goes to the audit log)')
    .option(
      '--emergency',
      'leaked credential: short grace (default 5m), then end the old sessions regardless',
    )
    .option('--wait', 'wait for the outcome, showing progress')
    .option('--outside-window', 'start outside the rotation window on purpose (needs --reason; audited)')
    .option(
      '--dry-run',
      `show the plan (strategy, statements, blockers, sessions) and change nothing; exit ${EXIT.blocked} if blocked`,
    )
    .option('--json', 'with --dry-run: machine-readable plan')
    .action(async (credentialId: string, opts) => {
      if (opts.emergency && !opts.reason) throw new CliError('--emergency needs --reason', EXIT.usage);
      if (opts.json && !opts.dryRun) throw new CliError('--json goes with --dry-run', EXIT.usage);
      if (opts.outsideWindow && !opts.reason)
        throw new CliError('--outside-window needs --reason', EXIT.usage);
      await withClient(async (client, cfg) => {
        const input: RotationInput = {
          credentialId,
          graceMs: opts.grace,
          migrationTimeoutMs: opts.migrationTimeout,
          drainTimeoutMs: opts.drainTimeout,
          reason: opts.reason,
          emergency: opts.emergency,
          requestedBy: cfg.actor,
          outsideWindow: opts.outsideWindow ? 'override' : undefined,
        };
        if (opts.dryRun) {
          const report = await planRotation(client, cfg, input);
          console.log(opts.json ? JSON.stringify(report, null, 2) : formatDryRun(report));
          if (report.blockers.length > 0) process.exitCode = EXIT.blocked;
          return;
        }
        await checkStartWindow(cfg, input);
        const handle = await startRotation(client, cfg, input);
        console.log(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        process.exitCode = exitCodeFor(await waitForRotation(client, input.credentialId));
      });
    });

  program
    .command('status <credential>')
    .description(
      `phase, versions, consumers, deadlines, outcome and cause of the latest rotation (exit ${EXIT.failed} if it failed, ${EXIT.needsOperator} if it waits for an operator)`,
    )
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts) => {
      await withClient(async (client, cfg) => {
        const view = await readRotation(client, credentialId);
        const window = await windowLine(cfg, credentialId);
        console.log(
          opts.json
            ? JSON.stringify({ ...view, window }, null, 2)
            : `${formatView(view)}${window ? `\nwindow       ${window}` : ''}`,
        );
        process.exitCode = exitCodeFor(view);
      });
    });

  const operatorCommand = <T>(
    name: string,
    description: string,
    request: (opts: Record<string, string>, actor: string) => T,
    send: (h: ReturnType<typeof handleFor>, req: T) => Promise<OperatorReply>,
  ) =>
    program
      .command(`${name} <credential>`)
      .description(description)
      .option('--reason <text>', 'why (recorded in status and audit)')
      .action(async (credentialId: string, opts) => {
        const req = request(opts, loadConfig().actor);
        await withClient(async (client) => {
          const reply = await sendOperatorRequest(
            name,
            () => send(handleFor(client, credentialId), req),
            client,
          );
          console.log(
            `${name}: accepted by ${rotationWorkflowId(credentialId)} — ${reply.accepted}; phase ${reply.phase}` +
              (reply.graceDeadline ? `; grace until ${reply.graceDeadline}` : ''),
          );
        });
      });
  const plain = (what: string) => (o: Record<string, string>, actor: string) =>
    checked(() => parseOperatorRequest(operatorRequestSchema, what, { reason: o.reason, by: actor }));

  operatorCommand(
    'abort',
    'before promote: undo everything; after promote: roll back',
    plain('abort'),
    (h, r) => h.executeUpdate(abortUpdate, { args: [r] }),
  );
  operatorCommand(
    'rollback',
    'during migrate/grace: go back to the old credential',
    plain('rollback'),
    (h, r) => h.executeUpdate(rollbackUpdate, { args: [r] }),
  );
  operatorCommand(
    'finish-grace',
    'end the grace period now and revoke the old credential',
    plain('finishGrace'),
    (h, r) => h.executeUpdate(finishGraceUpdate, { args: [r] }),
  );
  program
    .command('extend-grace <credential> <duration>')
    .description('move the grace deadline later (during migrate: lengthen the grace to come)')
    .action(async (credentialId: string, by: string) => {
      const req = checked(() =>
        parseOperatorRequest(extendGraceRequestSchema, 'extendGrace', {
          byMs: duration(by),
          by: loadConfig().actor,
        }),
      );
      await withClient(async (client) => {
        const reply = await sendOperatorRequest(
          'extend-grace',
          () => handleFor(client, credentialId).executeUpdate(extendGraceUpdate, { args: [req] }),
          client,
        );
        console.log(
          `extend-grace: accepted — grace until ${reply.graceDeadline ?? 'the end of the grace to come'}`,
        );
      });
    });
  program
    .command('resolve <credential>')
    .description(
      'a rotation waiting for an operator: --retry the failing step, or --abandon it (needs --reason)',
    )
    .option('--retry', 'run the failing step again')
    .option('--abandon', 'give up the step; the rotation ends as failed, leftovers as status shows')
    .option('--reason <text>', 'why (recorded in status and audit)')
    .action(async (credentialId: string, opts) => {
      if (Boolean(opts.retry) === Boolean(opts.abandon))
        throw new CliError('give exactly one of --retry and --abandon', EXIT.usage);
      const req = checked(() =>
        parseOperatorRequest(resolveRequestSchema, 'resolve', {
          action: opts.retry ? 'retry' : 'abandon',
          reason: opts.reason,
          by: loadConfig().actor,
        }),
      );
      if (req.action === 'abandon' && !req.reason) throw new CliError('--abandon needs --reason', EXIT.usage);
      await withClient(async (client) => {
        const reply = await sendOperatorRequest(
          'resolve',
          () => handleFor(client, credentialId).executeUpdate(resolveUpdate, { args: [req] }),
          client,
        );
        console.log(`resolve: ${reply.accepted} accepted; phase ${reply.phase}`);
      });
    });

  registerTargetCommands(program);
  const credentials = program
    .command('credentials')
    .description('manage credential definitions (never prints a secret)');
  credentials
    .command('add <file>')
    .description('add or replace a credential definition from a JSON file')
    .action(async (file: string) => {
      const cfg = loadConfig();
      const def = readDefinitionFile(file);
      const store = await openConfiguredStore(cfg);
      try {
        await store.putDefinition(def, cfg.actor);
        console.log(`credential ${def.id} saved`);
      } finally {
        await store.close();
      }
    });
  credentials
    .command('import <credential>')
    .description('store the existing login of a credential as its CURRENT version')
    .requiredOption('--username <name>', 'login name on the server')
    .option('--password-stdin', 'read the password from standard input')
    .option('--password-file <path>', 'read the password from a file')
    .action(async (credentialId: string, opts) => {
      const cfg = loadConfig();
      const password = readSecretInput(opts);
      const store = await openConfiguredStore(cfg);
      try {
        const v = await store.importCurrent(credentialId, { username: opts.username, password }, cfg.actor);
        console.log(`credential ${credentialId}: version ${v.version} is CURRENT`);
      } finally {
        await store.close();
      }
    });
  credentials
    .command('discard-pending <credential>')
    .description(
      'delete a PENDING version left by an abandoned rotation (never CURRENT; refused while a rotation runs)',
    )
    .action(async (credentialId: string) => {
      const cfg = loadConfig();
      const running = await withClient(async (client) =>
        readRotation(client, credentialId).then(
          (v) => v.execution === 'RUNNING',
          (err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return false;
            throw err;
          },
        ),
      );
      if (running)
        throw new CliError(
          `a rotation of "${credentialId}" is running; it owns the PENDING version`,
          EXIT.conflict,
        );
      const store = await openConfiguredStore(cfg);
      try {
        const pending = await store.getVersion(credentialId, 'PENDING');
        if (!pending) {
          console.log(`credential ${credentialId}: no PENDING version`);
          return;
        }
        await store.discardPending(credentialId, pending.version, cfg.actor);
        console.log(`credential ${credentialId}: PENDING version ${pending.version} discarded`);
      } finally {
        await store.close();
      }
    });
  credentials
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      const cfg = loadConfig();
      const store = await openConfiguredStore(cfg);
      try {
        const defs = await store.listDefinitions();
        if (opts.json) console.log(JSON.stringify(defs, null, 2));
        else for (const d of defs) console.log(`${d.id}\t${d.engine}\t${d.host}:${d.port}\t${d.strategy}`);
      } finally {
        await store.close();
      }
    });
  credentials
    .command('show <credential>')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts) => {
      const cfg = loadConfig();
      const store = await openConfiguredStore(cfg);
      try {
        const definition = await store.getDefinition(credentialId);
        const versions = await store.listVersions(credentialId);
        if (opts.json) console.log(JSON.stringify({ definition, versions }, null, 2));
        else {
          console.log(JSON.stringify(definition, null, 2));
          for (const v of versions) console.log(`v${v.version}\t${v.username}\t${v.state}\t${v.label ?? ''}`);
        }
      } finally {
        await store.close();
      }
    });

  program
    .command('history <credential>')
    .description(
      'past rotations of a credential: outcome, strategy, versions, duration, who (from the audit log)',
    )
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts) => {
      const cfg = loadConfig();
      const store = await openConfiguredStore(cfg);
      try {
        await store.getDefinition(credentialId); // unknown credential → clear error and exit code
        const entries = rotationHistory(await store.listAudit(credentialId));
        await addRunsEndedByTemporal(cfg, credentialId, entries);
        console.log(opts.json ? JSON.stringify(entries, null, 2) : formatHistory(entries));
        const lastOutcome = entries[entries.length - 1]?.outcome;
        process.exitCode = exitCodeFor({
          outcome: lastOutcome === 'running' ? undefined : lastOutcome,
          phase: lastOutcome ?? '',
        });
      } finally {
        await store.close();
      }
    });

  const schedule = program.command('schedule').description('periodic rotation through Temporal Schedules');
  schedule
    .command('create <credential>')
    .option('--every-days <n>', "rotation period in days (default: the policy's rotateEveryDays)", (v) =>
      positiveInt(v),
    )
    .option('--jitter <duration>', 'random delay per run', duration)
    .option('--grace <duration>', 'grace period of each rotation', duration)
    .option('--paused', 'create it paused')
    .action(async (credentialId: string, opts) => {
      await withClient(async (client, cfg) => {
        // First run N days after the last rotation (or import), not aligned to the epoch.
        const { everyDays, firstRunAt } = await scheduleStart(cfg, credentialId, opts.everyDays);
        const handle = await createRotationSchedule(client, cfg, credentialId, {
          everyDays,
          firstRunAt,
          jitterMs: opts.jitter,
          rotation: opts.grace === undefined ? undefined : { graceMs: opts.grace },
          paused: opts.paused,
        });
        console.log(`schedule ${handle.scheduleId} created; first run ${firstRunAt.toISOString()}`);
      });
    });
  schedule
    .command('create-expiry-sweep')
    .description('daily: rotate every credential whose expiresAt is within N days')
    .option('--within-days <n>', 'days before expiry', (v) => positiveInt(v), 14)
    .action(async (opts) => {
      await withClient(async (client, cfg) => {
        const handle = await createExpirySweepSchedule(client, cfg, opts.withinDays);
        console.log(`schedule ${handle.scheduleId} created`);
      });
    });
  schedule.command('list').action(async () => {
    await withClient(async (client) => {
      for await (const s of client.schedule.list()) {
        if (!s.scheduleId.startsWith('rotation-schedule/')) continue;
        console.log(
          describeScheduleLine(s.scheduleId, await client.schedule.getHandle(s.scheduleId).describe()),
        );
      }
    });
  });
  for (const [name, act] of [
    ['pause', (h: ScheduleHandle) => h.pause('paused from CLI')],
    ['unpause', (h: ScheduleHandle) => h.unpause('unpaused from CLI')],
    ['trigger', (h: ScheduleHandle) => h.trigger()],
    ['delete', (h: ScheduleHandle) => h.delete()],
  ] as const) {
    schedule.command(`${name} <credential>`).action(async (credentialId: string) => {
      await withClient(async (client) => {
        await act(client.schedule.getHandle(rotationScheduleId(credentialId)));
        console.log(`schedule ${rotationScheduleId(credentialId)}: ${name}`);
      });
    });
  }

  program
    .command('fleet')
    .description('rotate many credentials with bounded concurrency')
    .command('rotate')
    .option('--ids <ids>', 'comma-separated credential ids')
    .option('--engine <engine>', 'only this engine')
    .option('--label <k=v...>', 'label selector (repeatable)', (v, acc: string[] = []) => [...acc, v])
    .option('--expiring-within-days <n>', 'only credentials expiring soon', (v) => positiveInt(v))
    .option('--concurrency <n>', 'rotations at once', (v) => positiveInt(v), 5)
    .option('--grace <duration>', 'grace period of each rotation', duration)
    .option('--wait', 'wait for the summary')
    .action(async (opts) => {
      const labels = Object.fromEntries(
        ((opts.label as string[] | undefined) ?? []).map((kv) => {
          const i = kv.indexOf('=');
          if (i <= 0) throw new CliError(`--label expects key=value, got "${kv}"`, EXIT.usage);
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
      );
      const input: FleetInput = {
        selector: {
          ids: opts.ids ? String(opts.ids).split(',').filter(Boolean) : undefined,
          engine: opts.engine,
          labels: Object.keys(labels).length ? labels : undefined,
          expiringWithinDays: opts.expiringWithinDays,
        },
        concurrency: opts.concurrency,
        rotation: opts.grace === undefined ? undefined : { graceMs: opts.grace },
      };
      await withClient(async (client, cfg) => {
        const handle = await client.workflow.start('rotateFleet', {
          args: [input],
          taskQueue: cfg.temporal.taskQueue,
          workflowId: `fleet/${new Date().toISOString()}`,
        });
        console.log(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        const summary = (await handle.result()) as FleetSummary;
        console.log(JSON.stringify(summary, null, 2));
        if (summary.counts.failed > 0 || summary.cancelled) process.exitCode = EXIT.notRotated;
      });
    });

  registerStoreCommands(program);

  program
    .command('codec-server')
    .description('serve /encode and /decode for the Temporal UI/CLI (needs ROTATOR_CODEC_SERVER_TOKEN)')
    .action(async () => {
      const cfg = loadConfig();
      const server = createCodecServer(codecServerOptions(cfg));
      await new Promise<void>((resolve) => server.listen(cfg.codecServerPort, '127.0.0.1', resolve));
      console.log(
        `codec server on http://127.0.0.1:${cfg.codecServerPort} (CORS origin ${cfg.codecServerCorsOrigin})`,
      );
      await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
      server.close();
    });

  registerCommands(program);
  return program;
}

/** Codec server settings from the config; errors name the missing variable. */
function codecServerOptions(cfg: RotatorConfig): CodecServerOptions {
  const base = { keyring: cfg.codecKeyring, corsOrigin: cfg.codecServerCorsOrigin };
  const token = cfg.codecServerToken;
  switch (cfg.codecServerAuth) {
    case 'token':
      if (!token) {
        throw new CliError(
          'set ROTATOR_CODEC_SERVER_TOKEN (operators present it as a bearer token)',
          EXIT.usage,
        );
      }
      return { ...base, token };
    case 'jwt':
      if (!cfg.codecServerJwtIssuer || !cfg.codecServerJwksUrl) {
        throw new CliError(
          'JWT mode needs ROTATOR_CODEC_SERVER_JWT_ISSUER and ROTATOR_CODEC_SERVER_JWKS_URL',
          EXIT.usage,
        );
      }
      return {
        ...base,
        ...(token ? { token } : {}),
        auth: {
          mode: 'jwt',
          issuer: cfg.codecServerJwtIssuer,
          jwksUrl: cfg.codecServerJwksUrl,
          ...(cfg.codecServerJwtAudience ? { audience: cfg.codecServerJwtAudience } : {}),
        },
      };
    case 'loopback':
      return { ...base, ...(token ? { token } : {}), auth: { mode: 'loopback' } };
  }
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive whole number, got "${v}"`);
  return n;
}

/** Runs the CLI and maps every failure to a message and a stable exit code. */
export async function main(argv = process.argv): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      console.error(`error: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof WorkflowNotFoundError) {
      console.error('error: no rotation found for that credential');
      return EXIT.notFound;
    }
    if (err instanceof RotatorError) {
      console.error(`error: ${err.message}`);
      return err.code === 'UnknownCredentialError' ? EXIT.notFound : EXIT.error;
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.error;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
