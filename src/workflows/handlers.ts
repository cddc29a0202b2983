import type { UpdateDefinition } from '@temporalio/common';
import { setHandler } from '@temporalio/workflow';
import type { z } from 'zod';
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

/** When the grace period may be extended, or finished now, and what a refusal says otherwise. */
const EXTEND_GRACE = {
  schema: extendGraceRequestSchema,
  phases: GRACE_AHEAD,
  refusal: 'there is no grace period ahead',
};
const FINISH_GRACE = {
  schema: operatorRequestSchema,
  phases: IN_GRACE,
  refusal: 'only during migrate or grace',
};

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

  // extendGrace and finishGrace act on the grace period: refused while the run waits for
  // `resolve`, outside `phases`, or once a rollback is wanted.
  const setGraceHandler = <Req>(
    update: UpdateDefinition<OperatorReply, [Req]>,
    rule: { schema: z.ZodType<Req>; phases: ReadonlySet<Phase>; refusal: string },
    act: (req: Req) => string,
  ): void =>
    setHandler(update, (req) => reply(act(req)), {
      validator: (req) => {
        parseOperatorRequest(rule.schema, update.name, req);
        if (t.isParked() || !rule.phases.has(t.currentPhase()) || t.rollbackWanted())
          refuse(update.name, t, rule.refusal);
      },
    });
  setGraceHandler(extendGraceUpdate, EXTEND_GRACE, (req) => {
    t.extendGrace(req.byMs);
    return `grace extended by ${req.byMs} ms`;
  });
  setGraceHandler(finishGraceUpdate, FINISH_GRACE, () => {
    t.finishGrace();
    return 'grace ends now';
  });

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
