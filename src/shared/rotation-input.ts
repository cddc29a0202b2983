import { z } from 'zod';

// The start input of a rotation, checked by the workflow itself (a start
// through the Temporal CLI, the API or a hand-edited schedule bypasses our
// CLI) and by the CLI before it starts anything. Durations are bounded so no
// timer or date can overflow; fields this version does not know pass through
// (older or newer callers).

const DAY_MS = 24 * 60 * 60 * 1000;
const ms = (name: string, max: number, min = 0) =>
  z
    .number({ error: `${name} must be a number of milliseconds` })
    .int(`${name} must be a whole number of milliseconds`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max} (${Math.round(max / DAY_MS)} days)`)
    .optional();

export const rotationInputSchema = z.looseObject({
  credentialId: z
    .string({ error: 'credentialId must be a string' })
    .min(1, 'credentialId must not be empty')
    .max(200, 'credentialId is longer than 200 characters'),
  graceMs: ms('graceMs', 365 * DAY_MS),
  migrationTimeoutMs: ms('migrationTimeoutMs', 30 * DAY_MS),
  drainTimeoutMs: ms('drainTimeoutMs', 7 * DAY_MS),
  consumerDiscoveryMs: ms('consumerDiscoveryMs', DAY_MS),
  consumerExpiryMs: ms('consumerExpiryMs', DAY_MS, 1000),
  maxConsumers: z
    .number({ error: 'maxConsumers must be a number' })
    .int('maxConsumers must be a whole number')
    .min(1, 'maxConsumers must be at least 1')
    .max(10_000, 'maxConsumers must be at most 10000')
    .optional(),
  requestedBy: z.string({ error: 'requestedBy must be a string' }).max(200).optional(),
  reason: z.string({ error: 'reason must be a string' }).max(1000).optional(),
  emergency: z.boolean({ error: 'emergency must be true or false' }).optional(),
  dryRun: z.boolean({ error: 'dryRun must be true or false' }).optional(),
  outsideWindow: z
    .enum(['override', 'launcher-waited'], { error: 'outsideWindow must be "override" or "launcher-waited"' })
    .optional(),
});

/** Every problem of a start input, in one message (never the values). */
export function rotationInputProblems(input: unknown): string | undefined {
  const r = rotationInputSchema.safeParse(input);
  if (r.success) return undefined;
  return r.error.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
