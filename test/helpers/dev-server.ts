// Kept apart from temporal.ts: scripts/record-histories.ts imports that one outside vitest.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll } from 'vitest';
import { devServerEnv } from './temporal';

/**
 * The dev server for every test of the calling file: connects before the first test and tears the
 * environment down after the last; returns a getter for it.
 */
export function devServerForFile(): () => TestWorkflowEnvironment {
  let env: TestWorkflowEnvironment | undefined;
  beforeAll(async () => {
    env = await devServerEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });
  return () => {
    if (!env) throw new Error('the dev server environment is only there inside tests');
    return env;
  };
}
