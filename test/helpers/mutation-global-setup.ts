import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bundleWorkflows, { WORKFLOW_BUNDLE_PATH } from './global-setup';
import { REPO_ROOT } from './services';

/**
 * Global setup of the workflow mutation run (vitest.mutation-workflow.config.mts). StrykerJS's
 * command runner starts one `vitest run` per mutant, and all mutants share the same instrumented
 * sources (the mutant is chosen at run time), so the bundle is built once and reused while the
 * sources it is built from are unchanged. Bundling costs most of a mutant's run otherwise.
 */
export default async function setup(): Promise<void> {
  const keyPath = `${WORKFLOW_BUNDLE_PATH}.key`;
  const key = sourcesHash(join(REPO_ROOT, 'src'));
  if (existsSync(WORKFLOW_BUNDLE_PATH) && existsSync(keyPath) && readFileSync(keyPath, 'utf8') === key)
    return;
  await bundleWorkflows();
  writeFileSync(keyPath, key);
}

function sourcesHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(path).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  walk(dir);
  return hash.digest('hex');
}
