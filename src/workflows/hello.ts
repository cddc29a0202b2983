import { proxyActivities, sleep } from '@temporalio/workflow';
import type { HelloActivities } from '../shared/hello';

const { greet } = proxyActivities<HelloActivities>({ startToCloseTimeout: '10s' });

/** Smoke test of the worker setup: one activity, then an optional durable sleep. */
export async function hello(name: string, sleepMs = 0): Promise<string> {
  const greeting = await greet(name);
  if (sleepMs > 0) await sleep(sleepMs);
  return greeting;
}
