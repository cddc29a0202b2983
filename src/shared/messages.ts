import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ConsumerHeartbeat, RotationStatus } from './types';

// Signals and queries of the rotation workflow. Plain JSON, ids only, so
// operators can send them with `temporal workflow signal --input '{...}'`.

/** An application reports which credential version it uses now. */
export const consumerHeartbeatSignal = defineSignal<[ConsumerHeartbeat]>('consumerHeartbeat');
/** Stop the rotation: before promote it compensates, after promote it rolls back. */
export const abortSignal = defineSignal<[{ reason?: string; by?: string }?]>('abort');
/** During migrate/grace: point consumers back to the old version and remove the new one. */
export const rollbackSignal = defineSignal<[{ reason?: string; by?: string }?]>('rollback');
/** Move the grace deadline later. */
export const extendGraceSignal = defineSignal<[{ byMs: number; by?: string }]>('extendGrace');
/** End the grace period now and revoke (after the usual drain). */
export const finishGraceSignal = defineSignal<[{ by?: string }?]>('finishGrace');

export const statusQuery = defineQuery<RotationStatus>('status');
