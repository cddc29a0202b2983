import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../codec';

/**
 * Build step (scripts/build.sh): bundles the compiled workflows and the
 * failure converter into one file that the worker loads with
 * `workflowBundle`, so a worker start does not run webpack (seconds).
 * Usage: node dist/build/bundle-workflows.js <out.js>
 */
export async function bundleWorkflows(outPath: string): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(__dirname, '..', 'workflows'),
    failureConverterPath,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  writeFileSync(outPath, code);
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: bundle-workflows <out.js>');
    process.exit(2);
  }
  bundleWorkflows(resolve(out)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
