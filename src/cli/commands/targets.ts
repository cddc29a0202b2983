import type { Command } from 'commander';
import { publishCurrentVersion } from '../../activities/delivery';
import { heartbeatToken } from '../../heartbeat-gateway';
import { withStore } from '../context';

/** `targets publish <credential>`: the CURRENT version to every delivery target, read back (no rotation). */
export function registerTargetCommands(program: Command): void {
  const targets = program.command('targets').description('delivery targets of a credential (src/targets)');
  targets
    .command('publish <credential>')
    .description(
      'publish the CURRENT version to every file/pgbouncer/AWS target and read it back (no rotation)',
    )
    .action(async (credentialId: string) => {
      await withStore(async (store) => {
        for (const d of await publishCurrentVersion(store, credentialId, process.env))
          console.log(`published: ${d}`);
      });
    });
  targets
    .command('heartbeat-token <credential>')
    .description(
      "print the credential's heartbeat gateway token (needs ROTATOR_HEARTBEAT_KEY); deliver it with the credential",
    )
    .action((credentialId: string) => {
      const key = Buffer.from(process.env.ROTATOR_HEARTBEAT_KEY ?? '', 'base64');
      if (key.length < 32) throw new Error('ROTATOR_HEARTBEAT_KEY must be at least 32 bytes, base64');
      console.log(heartbeatToken(key, credentialId));
    });
}
