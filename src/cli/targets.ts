import type { Command } from 'commander';
import { publishCurrentVersion } from '../activities/delivery';
import { loadConfig } from '../config';
import { openConfiguredStore } from '../runtime';

/** `targets publish <credential>`: the CURRENT version to every delivery target, read back (no rotation). */
export function registerTargetCommands(program: Command): void {
  const targets = program.command('targets').description('delivery targets of a credential (src/targets)');
  targets
    .command('publish <credential>')
    .description(
      'publish the CURRENT version to every file/pgbouncer/AWS target and read it back (no rotation)',
    )
    .action(async (credentialId: string) => {
      const cfg = loadConfig();
      const store = await openConfiguredStore(cfg);
      try {
        for (const d of await publishCurrentVersion(store, credentialId, process.env))
          console.log(`published: ${d}`);
      } finally {
        await store.close();
      }
    });
}
