import { z } from 'zod';

// What operators may send to a running rotation, checked the same way by the
// workflow's Update validators (which reject without writing history) and by
// the CLI before it sends anything. Unknown fields are refused so a typo
// ("bymS") is an error, not a silent no-op.

const text = (name: string, max: number) =>
  z.string({ error: `${name} must be a string` }).max(max, `${name} is longer than ${max} characters`);

export const MAX_GRACE_EXTENSION_MS = 90 * 24 * 60 * 60 * 1000;
export const MIN_GRACE_EXTENSION_MS = 1000;

export const operatorRequestSchema = z
  .strictObject({ reason: text('reason', 1000).optional(), by: text('by', 200).optional() })
  .optional();
export type OperatorRequest = z.infer<typeof operatorRequestSchema>;

export const extendGraceRequestSchema = z.strictObject({
  byMs: z
    .number({ error: 'byMs must be a number of milliseconds' })
    .int('byMs must be a whole number of milliseconds')
    .min(MIN_GRACE_EXTENSION_MS, `byMs must be at least ${MIN_GRACE_EXTENSION_MS} (1 s)`)
    .max(MAX_GRACE_EXTENSION_MS, `byMs must be at most ${MAX_GRACE_EXTENSION_MS} (90 days)`),
  by: text('by', 200).optional(),
});
export type ExtendGraceRequest = z.infer<typeof extendGraceRequestSchema>;

export const resolveRequestSchema = z.strictObject({
  action: z.enum(['retry', 'abandon'], { error: 'action must be "retry" or "abandon"' }),
  reason: text('reason', 1000).min(1, 'reason must not be empty').optional(),
  by: text('by', 200).optional(),
});
export type ResolveRequest = z.infer<typeof resolveRequestSchema>;

/** What an accepted operator request returns: the state it produced. */
export interface OperatorReply {
  phase: string;
  accepted: string;
  graceDeadline?: string;
}

/**
 * Parses `value` with `schema`; throws an Error whose message names every
 * problem (zod's own wording), never the value itself.
 */
export function parseOperatorRequest<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) =>
    i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message,
  );
  throw new Error(`${what}: invalid request: ${problems.join('; ')}`);
}
