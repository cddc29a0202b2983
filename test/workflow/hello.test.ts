import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { helloActivities } from '../../src/activities/hello';
import { createTestWorker, devServerEnv, timeSkippingEnv, uniqueTaskQueue } from '../helpers/temporal';

describe('hello workflow on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('completes a 24 h durable sleep without waiting 24 h', async () => {
    const taskQueue = uniqueTaskQueue();
    const worker = await createTestWorker(env, { taskQueue, activities: helloActivities });
    const started = Date.now();
    const result = await worker.runUntil(
      env.client.workflow.execute('hello', {
        args: ['time', 24 * 60 * 60 * 1000],
        taskQueue,
        workflowId: `hello-${taskQueue}`,
      }),
    );
    expect(result).toBe('hello, time');
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});

describe('hello workflow on the dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await devServerEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('runs one activity and returns its result', async () => {
    const taskQueue = uniqueTaskQueue();
    const worker = await createTestWorker(env, { taskQueue, activities: helloActivities });
    const handle = await env.client.workflow.start('hello', {
      args: ['world'],
      taskQueue,
      workflowId: `hello-${taskQueue}`,
    });
    const result = await worker.runUntil(handle.result());
    expect(result).toBe('hello, world');
    const history = await handle.fetchHistory();
    const types = (history.events ?? []).map((e) => e.eventType);
    expect(types.length).toBeGreaterThan(5); // a real server recorded a real history
  });
});
