import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ConsumerHeartbeat, RotationStatus } from './types';
import type { OperatorRequest, ExtendGraceRequest, ResolveRequest, OperatorReply } from './operator-requests';

// Messages of the rotation workflow. Plain JSON, ids only.
//
// Operator controls are Updates with validators: a malformed or ill-timed
// request is rejected with a message, writes nothing to history and cannot
// fail or wedge the run; an accepted one returns the new state. They do not
// count against the server's per-run signal limit, so heartbeats can never
// lock an operator out. Send them with
//   temporal workflow update execute --workflow-id rotate/<id> --name abort --input '{"reason":"…"}'

/** Stop the rotation: before promote it compensates, after promote it rolls back. */
export const abortUpdate = defineUpdate<OperatorReply, [OperatorRequest]>('abort');
/** During migrate/grace: point consumers back to the old version and remove the new one. */
export const rollbackUpdate = defineUpdate<OperatorReply, [OperatorRequest]>('rollback');
/** Move the grace deadline later (during migrate it lengthens the grace to come). */
export const extendGraceUpdate = defineUpdate<OperatorReply, [ExtendGraceRequest]>('extendGrace');
/** End the grace period now and revoke (after the usual drain). */
export const finishGraceUpdate = defineUpdate<OperatorReply, [OperatorRequest]>('finishGrace');
/** A rotation waiting for an operator (phase needs-operator): retry the failing step, or abandon it. */
export const resolveUpdate = defineUpdate<OperatorReply, [ResolveRequest]>('resolve');

/**
 * An application reports which credential version it uses now. The only
 * signal: fire-and-forget, its handler ignores anything malformed and keeps a
 * bounded table.
 */
export const consumerHeartbeatSignal = defineSignal<[ConsumerHeartbeat]>('consumerHeartbeat');

/**
 * The whole status, for one-off looks (Temporal UI, tests on the time-skipping
 * server). Tools that poll read the memo and search attributes through
 * describe() instead (see src/rotation-status.ts): a query sent to a dead
 * sticky worker can corrupt the cached state of TS SDK 1.24's core.
 */
export const statusQuery = defineQuery<RotationStatus>('status');
