import { z } from 'zod';
import { isKnownTimeZone, WEEKDAYS } from '../shared/windows';

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
/** An ISO 8601 date-time with an explicit offset: a freeze must not depend on the worker's zone. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** A daily time range on some weekdays in one IANA time zone (src/shared/windows.ts). */
export const rotationWindowSchema = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS, { error: `expected one of ${WEEKDAYS.join(', ')}` }))
      .min(1, { error: 'give at least one day' })
      .refine((d) => new Set(d).size === d.length, { error: 'a day is listed twice' }),
    start: z.string().regex(HHMM, { error: 'expected a local time "HH:MM" (00:00-23:59)' }),
    end: z
      .string()
      .refine((s) => HHMM.test(s) || s === '24:00', { error: 'expected a local time "HH:MM" (00:01-24:00)' }),
    timeZone: z.string().refine(isKnownTimeZone, {
      error: 'unknown time zone (expected an IANA name such as "Europe/Berlin")',
    }),
  })
  .refine((w) => w.start !== w.end, {
    error: 'start and end are equal: the window would be empty',
    path: ['end'],
  });

/** An absolute period [from, to) in which nothing starts or is revoked. */
export const freezePeriodSchema = z
  .strictObject({
    from: z.string().regex(ISO_WITH_OFFSET, {
      error: 'expected an ISO 8601 date-time with offset, e.g. "2026-12-20T00:00:00+01:00"',
    }),
    to: z.string().regex(ISO_WITH_OFFSET, {
      error: 'expected an ISO 8601 date-time with offset, e.g. "2027-01-04T00:00:00+01:00"',
    }),
    reason: z.string().max(200).optional(),
  })
  .refine(
    (f) =>
      Number.isNaN(Date.parse(f.from)) ||
      Number.isNaN(Date.parse(f.to)) ||
      Date.parse(f.to) > Date.parse(f.from),
    {
      error: 'must be after "from"',
      path: ['to'],
    },
  )
  .refine((f) => !Number.isNaN(Date.parse(f.from)) && !Number.isNaN(Date.parse(f.to)), {
    error: 'not a valid date',
  });
