/**
 * A one-activity workflow for tests of the Temporal plumbing itself (TLS,
 * codec, the `temporal` CLI): not part of what the production worker runs.
 * Workers load it with `workflowsPath: HELLO_WORKFLOWS_PATH`.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';

export const HELLO_WORKFLOWS_PATH = __filename;

export const helloActivities = {
  async greet(name: string): Promise<string> {
    return `hello, ${name}`;
  },
};

const { greet } = proxyActivities<typeof helloActivities>({ startToCloseTimeout: '10s' });

/** One activity, then an optional durable sleep. */
export async function hello(name: string, sleepMs = 0): Promise<string> {
  const greeting = await greet(name);
  if (sleepMs > 0) await sleep(sleepMs);
  return greeting;
}
