/**
 * Worker tuning (README Scaling → Worker tuning) comes from the config file
 * or ROTATOR_WORKER_* variables; what is not set keeps the SDK's default.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { generateKeyBase64 } from '../src/store/crypto';
import { workerTuning } from '../src/worker';

const keys = () => ({
  ROTATOR_STORE_KEYS: `s:${generateKeyBase64()}`,
  ROTATOR_CODEC_KEYS: `c:${generateKeyBase64()}`,
});

describe('worker tuning', () => {
  it('passes the set options to the SDK under its names and leaves the others to its defaults', () => {
    const cfg = loadConfig({
      ...keys(),
      ROTATOR_WORKER_MAX_CACHED_WORKFLOWS: '300',
      ROTATOR_WORKER_MAX_ACTIVITIES: '64',
      ROTATOR_WORKER_STICKY_TIMEOUT_MS: '5000',
    });
    expect(workerTuning(cfg.worker)).toEqual({
      maxCachedWorkflows: 300,
      maxConcurrentActivityTaskExecutions: 64,
      stickyQueueScheduleToStartTimeout: 5000,
    });
    expect(workerTuning(loadConfig(keys()).worker)).toEqual({});
  });

  it('refuses a bad value, naming the option', () => {
    expect(() => loadConfig({ ...keys(), ROTATOR_WORKER_MAX_WORKFLOW_TASKS: '1' })).toThrow(
      /worker\.maxConcurrentWorkflowTaskExecutions/,
    );
    expect(() => loadConfig({ ...keys(), ROTATOR_WORKER_MAX_CACHED_WORKFLOWS: 'many' })).toThrow(
      /worker\.maxCachedWorkflows/,
    );
  });
});
