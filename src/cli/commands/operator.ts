/**
 * Operator controls of a running rotation, each sent as an Update the
 * workflow validates: abort, rollback, finish-grace, extend-grace, resolve.
 */
import type { Command } from 'commander';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { loadConfig } from '../../config';
import { failureCause } from '../../rotation-view';
import { rotationWorkflowId } from '../../shared/constants';
import { causeChain } from '../../shared/error-cause';
import {
  abortUpdate,
  extendGraceUpdate,
  finishGraceUpdate,
  resolveUpdate,
  rollbackUpdate,
} from '../../shared/messages';
import {
  extendGraceRequestSchema,
  operatorRequestSchema,
  parseOperatorRequest,
  resolveRequestSchema,
  type OperatorReply,
  type OperatorRequest,
} from '../../shared/operator-requests';
import { rotationHandle, withClient } from '../context';
import { checked, CliError, EXIT } from '../exit-codes';
import { duration } from '../options';

type RotationHandle = ReturnType<typeof rotationHandle>;

/** The three controls that take only a --reason (`kind`: the request name validators report). */
const PLAIN_CONTROLS = [
  {
    name: 'abort',
    kind: 'abort',
    description: 'before promote: undo everything; after promote: roll back',
    send: (h: RotationHandle, r: OperatorRequest) => h.executeUpdate(abortUpdate, { args: [r] }),
  },
  {
    name: 'rollback',
    kind: 'rollback',
    description: 'during migrate/grace: go back to the old credential',
    send: (h: RotationHandle, r: OperatorRequest) => h.executeUpdate(rollbackUpdate, { args: [r] }),
  },
  {
    name: 'finish-grace',
    kind: 'finishGrace',
    description: 'end the grace period now and revoke the old credential',
    send: (h: RotationHandle, r: OperatorRequest) => h.executeUpdate(finishGraceUpdate, { args: [r] }),
  },
] as const;

export function registerOperatorCommands(program: Command): void {
  for (const control of PLAIN_CONTROLS) {
    program
      .command(`${control.name} <credential>`)
      .description(control.description)
      .option('--reason <text>', 'why (recorded in status and audit)')
      .action(async (credentialId: string, opts: { reason?: string }) => {
        const req = checked(() =>
          parseOperatorRequest(operatorRequestSchema, control.kind, {
            reason: opts.reason,
            by: loadConfig().actor,
          }),
        );
        const reply = await sendToRotation(control.name, credentialId, (h) => control.send(h, req));
        console.log(
          `${control.name}: accepted by ${rotationWorkflowId(credentialId)} — ${reply.accepted}; phase ${reply.phase}` +
            (reply.graceDeadline ? `; grace until ${reply.graceDeadline}` : ''),
        );
      });
  }
  registerExtendGrace(program);
  registerResolve(program);
}

function registerExtendGrace(program: Command): void {
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
      const reply = await sendToRotation('extend-grace', credentialId, (h) =>
        h.executeUpdate(extendGraceUpdate, { args: [req] }),
      );
      console.log(
        `extend-grace: accepted — grace until ${reply.graceDeadline ?? 'the end of the grace to come'}`,
      );
    });
}

function registerResolve(program: Command): void {
  program
    .command('resolve <credential>')
    .description(
      'a rotation waiting for an operator: --retry the failing step, or --abandon it (needs --reason)',
    )
    .option('--retry', 'run the failing step again')
    .option('--abandon', 'give up the step; the rotation ends as failed, leftovers as status shows')
    .option('--reason <text>', 'why (recorded in status and audit)')
    .action(async (credentialId: string, opts: { retry?: boolean; abandon?: boolean; reason?: string }) => {
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
      const reply = await sendToRotation('resolve', credentialId, (h) =>
        h.executeUpdate(resolveUpdate, { args: [req] }),
      );
      console.log(`resolve: ${reply.accepted} accepted; phase ${reply.phase}`);
    });
}

/** Sends one operator Update to the credential's rotation over a client of its own. */
function sendToRotation(
  name: string,
  credentialId: string,
  send: (h: RotationHandle) => Promise<OperatorReply>,
): Promise<OperatorReply> {
  return withClient((client) =>
    sendOperatorRequest(name, () => send(rotationHandle(client, credentialId)), client),
  );
}

const UPDATE_TIMEOUT_MS = 30_000;

/** Sends an operator Update; a rejection by the workflow's validator becomes a clear error. */
async function sendOperatorRequest(
  name: string,
  send: () => Promise<OperatorReply>,
  client: Client,
): Promise<OperatorReply> {
  try {
    // An Update is accepted by a worker; without one it would wait forever and, unlike a
    // signal, is not recorded until a worker accepts it.
    return await client.connection.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, send);
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
  return causeChain(err).some(
    (e) => (e as { code?: unknown }).code === 4 || /deadline exceeded/i.test(e.message),
  );
}
