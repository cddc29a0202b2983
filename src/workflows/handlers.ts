import { setHandler } from '@temporalio/workflow';
import {
  abortUpdate,
  consumerHeartbeatSignal,
  extendGraceUpdate,
  finishGraceUpdate,
  resolveUpdate,
  rollbackUpdate,
  statusQuery,
} from '../shared/messages';
import {
  extendGraceRequestSchema,
  operatorRequestSchema,
  parseOperatorRequest,
  resolveRequestSchema,
  type OperatorReply,
} from '../shared/operator-requests';
import type { Phase } from '../shared/types';
import type { RotationTracker } from './tracker';

/** Phases in which the credential's fate is still open (abort/rollback make sense). */
const STOPPABLE: ReadonlySet<Phase> = new Set([
  'preflight',
  'create-pending',
  'apply',
  'verify',
  'replicate',
  'promote',
  'migrate',
  'grace',
]);
/** Phases in which the grace period exists or is still to come. */
const GRACE_AHEAD: ReadonlySet<Phase> = new Set([...STOPPABLE]);
const IN_GRACE: ReadonlySet<Phase> = new Set(['migrate', 'grace']);

function refuse(what: string, t: RotationTracker, why: string): never {
  throw new Error(`${what}: refused in phase ${t.currentPhase()}: ${why}`);
}

/**
 * Registers every message handler of a rotation. Validators run before an
 * Update is accepted: a rejection is returned to the sender and leaves no
 * trace in history, so no request can fail or wedge the run. Handlers only
 * run on accepted requests and do not throw.
 */
export function registerHandlers(t: RotationTracker): void {
  const reply = (accepted: string): OperatorReply => {
    const s = t.status();
    return { phase: s.phase, accepted, graceDeadline: s.graceDeadline };
  };

  setHandler(statusQuery, () => t.status());
  setHandler(consumerHeartbeatSignal, (hb) => t.heartbeat(hb));

  // abort and rollback take the same request in the same phases; the tracker tells them apart
  // (before promote a rollback is an abort).
  const setStopHandler = (
    update: typeof abortUpdate,
    what: string,
    request: (reason: string, by?: string) => void,
  ): void =>
    setHandler(
      update,
      (req) => {
        request(req?.reason ?? 'no reason given', req?.by);
        return reply(t.isPromoted ? 'rollback' : 'abort');
      },
      {
        validator: (req) => {
          parseOperatorRequest(operatorRequestSchema, what, req);
          if (t.isParked()) refuse(what, t, 'the run waits for `resolve` (retry or abandon)');
          if (!STOPPABLE.has(t.currentPhase()))
            refuse(what, t, 'the rotation is past the point of no return');
        },
      },
    );
  setStopHandler(abortUpdate, 'abort', (reason, by) => t.requestAbort(reason, by));
  setStopHandler(rollbackUpdate, 'rollback', (reason, by) => t.requestRollback(reason, by));

  setHandler(
    extendGraceUpdate,
    (req) => {
      t.extendGrace(req.byMs);
      return reply(`grace extended by ${req.byMs} ms`);
    },
    {
      validator: (req) => {
        parseOperatorRequest(extendGraceRequestSchema, 'extendGrace', req);
        if (t.isParked() || !GRACE_AHEAD.has(t.currentPhase()) || t.rollbackWanted())
          refuse('extendGrace', t, 'there is no grace period ahead');
      },
    },
  );

  setHandler(
    finishGraceUpdate,
    () => {
      t.finishGrace();
      return reply('grace ends now');
    },
    {
      validator: (req) => {
        parseOperatorRequest(operatorRequestSchema, 'finishGrace', req);
        if (t.isParked() || !IN_GRACE.has(t.currentPhase()) || t.rollbackWanted())
          refuse('finishGrace', t, 'only during migrate or grace');
      },
    },
  );

  setHandler(
    resolveUpdate,
    (req) => {
      t.resolve(req);
      return reply(req.action);
    },
    {
      validator: (req) => {
        const r = parseOperatorRequest(resolveRequestSchema, 'resolve', req);
        if (!t.isParked()) refuse('resolve', t, 'the run is not waiting for an operator');
        if (r.action === 'abandon' && !r.reason) throw new Error('resolve: abandon needs a reason');
      },
    },
  );
}
