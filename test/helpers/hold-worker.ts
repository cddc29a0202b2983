/**
 * The real worker, except that one activity (HOLD_AFTER) hangs right after
 * its effect: it writes a marker file named after the credential into
 * HOLD_MARKER_DIR and never returns. A test then SIGKILLs this process, so
 * the step's effect is real (store or server changed) while its result never
 * reaches history — for a local activity, not even its marker.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWorker } from '../../src/worker';
import { markerName } from './hold-worker-name';

const holdAfter = process.env.HOLD_AFTER;
const markerDir = process.env.HOLD_MARKER_DIR;
if (!holdAfter || !markerDir) throw new Error('hold-worker needs HOLD_AFTER and HOLD_MARKER_DIR');

runWorker({
  wrapActivities: (activities) => ({
    ...activities,
    [holdAfter]: async (...args: never[]) => {
      await activities[holdAfter]!(...args);
      const plan = (args as unknown[])[0] as { credentialId: string };
      writeFileSync(join(markerDir, markerName(plan.credentialId)), '');
      await new Promise(() => undefined); // hold until killed
    },
  }),
}).catch((err: unknown) => {
  console.error(`hold worker failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
