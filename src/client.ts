/**
 * The CLI's entry point (`npm run cli`; bin/db-rotator runs dist/client.js).
 * The program lives in src/cli/; this file keeps the one path the entry
 * points, scripts and tests import from.
 */
import { main } from './cli/main';

export { buildCli, main } from './cli/main';
export { CliError, EXIT, exitCodeFor } from './cli/exit-codes';
export { formatDryRun, formatStatus, formatView, type DryRunReport } from './cli/format';
export { dryRunRotation, startRotation, waitForRotation } from './cli/commands/rotate';

if (require.main === module) {
  main().then((code) => process.exit(code));
}
