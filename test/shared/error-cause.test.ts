import { ApplicationFailure, ActivityFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { causeChain, describeRootCause, rootCause } from '../../src/shared/error-cause';

/** An activity failure as the workflow sees it: Temporal's wrapper around what the activity raised. */
function activityFailure(cause: Error): ActivityFailure {
  return new ActivityFailure(
    'activity failed',
    'apply',
    '7',
    RetryState.NON_RETRYABLE_FAILURE,
    undefined,
    cause,
  );
}

describe('the root cause of an error chain', () => {
  it('walks Temporal wrappers down to the error the activity raised, with its type', () => {
    const raised = ApplicationFailure.nonRetryable('login "app_b" exists', 'StoreStateError');
    const err = activityFailure(raised);
    expect(causeChain(err)).toEqual([err, raised]);
    expect(rootCause(err)).toBe(raised);
    expect(describeRootCause(err)).toBe('StoreStateError: login "app_b" exists');
  });

  it('an error without a type gives its message; a cause that is no Error ends the walk', () => {
    const inner = new Error('connection reset', { cause: 'not an error' });
    expect(describeRootCause(new Error('outer', { cause: inner }))).toBe('connection reset');
    expect(rootCause(inner)).toBe(inner);
  });

  it('a thrown non-error is described as a string', () => {
    expect(causeChain('boom')).toEqual([]);
    expect(rootCause('boom')).toBe('boom');
    expect(describeRootCause(42)).toBe('42');
  });
});
