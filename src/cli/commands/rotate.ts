/** `rotate` (start, --dry-run, --wait) and `status` of one credential's rotation. */
import type { Command } from 'commander';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { RotatorConfig } from '../../config';
import { readRotation, type RotationView } from '../../rotation-view';
import { planWorkflowId, rotationWorkflowId } from '../../shared/constants';
import { rootCause } from '../../shared/error-cause';
import { rotationInputProblems } from '../../shared/rotation-input';
import type { ConsumerStatus, RotationInput } from '../../shared/types';
// Started by function reference: input and result are typed by the workflow itself.
import { rotateCredential } from '../../workflows/rotate-credential';
import { withClient, withStore } from '../context';
import { CliError, EXIT, exitCodeFor } from '../exit-codes';
import { formatDryRun, formatView, type DryRunReport } from '../format';
import { duration } from '../options';
import { checkStartWindow, windowLine } from './window';

export function registerRotateCommands(program: Command): void {
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
    .action(rotateAction);

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
}

interface RotateOptions {
  grace?: number;
  migrationTimeout?: number;
  drainTimeout?: number;
  reason?: string;
  emergency?: boolean;
  wait?: boolean;
  outsideWindow?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

async function rotateAction(credentialId: string, opts: RotateOptions): Promise<void> {
  if (opts.emergency && !opts.reason) throw new CliError('--emergency needs --reason', EXIT.usage);
  if (opts.json && !opts.dryRun) throw new CliError('--json goes with --dry-run', EXIT.usage);
  if (opts.outsideWindow && !opts.reason) throw new CliError('--outside-window needs --reason', EXIT.usage);
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
      const report = await dryRunRotation(client, cfg, input);
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
}

/** Starts the rotation of one credential; the fixed workflow id makes a second start fail. */
export async function startRotation(client: Client, cfg: RotatorConfig, input: RotationInput) {
  const problems = rotationInputProblems(input);
  if (problems) throw new CliError(`invalid rotation input: ${problems}`, EXIT.usage);
  await assertRotatable(cfg, input.credentialId);
  try {
    return await client.workflow.start(rotateCredential, {
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
  await withStore(async (store) => {
    await store.getDefinition(credentialId);
    if (!(await store.getVersion(credentialId, 'CURRENT')))
      throw new CliError(
        `credential "${credentialId}" has no CURRENT version: import it first (credentials import)`,
        EXIT.usage,
      );
  }, cfg);
}

/**
 * Runs the rotation workflow in dry-run mode under its own id (a rotation of
 * the credential may be running) and returns the plan.
 */
export async function dryRunRotation(
  client: Client,
  cfg: RotatorConfig,
  input: RotationInput,
): Promise<DryRunReport> {
  const handle = await client.workflow.start(rotateCredential, {
    args: [{ ...input, dryRun: true }],
    taskQueue: cfg.temporal.taskQueue,
    workflowId: planWorkflowId(input.credentialId),
  });
  const result = await handle.result().catch((err: unknown) => {
    const cause = rootCause(err);
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    const message = cause instanceof Error ? cause.message : String(cause);
    if (type === 'UnknownCredentialError') throw new CliError(message, EXIT.notFound);
    throw new CliError(`dry run failed: ${type ? `${type}: ` : ''}${message}`, EXIT.error);
  });
  if (!result.dryRun)
    throw new CliError('the worker returned no plan (is it older than this CLI?)', EXIT.error);
  return { ...result.dryRun, knownConsumers: await knownConsumers(client, input.credentialId) };
}

/** Consumers the running or last rotation of the credential heard from (from its memo); none if there is none. */
async function knownConsumers(client: Client, credentialId: string): Promise<ConsumerStatus[]> {
  try {
    return (await readRotation(client, credentialId)).status?.consumers ?? [];
  } catch {
    return [];
  }
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
    const behind = Object.entries(view.replicate?.waitingFor ?? {}).map(([n, d]) => `${n} ${d}`);
    const line =
      `${view.phase}${s && s.consumers.length ? ` — ${s.consumersBehind.length}/${s.consumers.length} consumers behind` : ''}` +
      (behind.length ? ` — waiting for ${behind.join('; ')}` : '');
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
