import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../../src/codec';
import { REPO_ROOT } from './services';

export const WORKFLOW_BUNDLE_PATH = join(REPO_ROOT, '.cache', 'workflow-bundle.js');

/** Bundles the workflows once per test run; every test worker loads the same file. */
export default async function setup(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(REPO_ROOT, 'src', 'workflows', 'index.ts'),
    failureConverterPath,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  mkdirSync(join(REPO_ROOT, '.cache'), { recursive: true });
  // Written whole, then renamed: a run that sets up while another one's workers load the bundle
  // (two StrykerJS runners start side by side) never reads half a file.
  const partial = `${WORKFLOW_BUNDLE_PATH}.${process.pid}.tmp`;
  writeFileSync(partial, code);
  renameSync(partial, WORKFLOW_BUNDLE_PATH);
}
