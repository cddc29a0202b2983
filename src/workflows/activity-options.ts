import { ActivityCancellationType, type RetryPolicy } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/constants';

/** The retry every activity of a rotation starts from; each caller bounds the attempts. */
export const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
};

// A cancelled step is allowed to finish first, so its undo never races it.
export const cancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;

// Activities heartbeat while they run (activities/rotation.ts), so a worker that dies mid-step
// is noticed after heartbeatTimeout and the step retried elsewhere, not after startToCloseTimeout.
export const heartbeatTimeout = '10s';
