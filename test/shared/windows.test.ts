import { describe, expect, it } from 'vitest';
import { nextAllowedStart, windowState, type WindowPolicy } from '../../src/shared/windows';
import { parseCredentialDefinition } from '../../src/store/schema';

const at = (iso: string) => new Date(iso);
const next = (p: WindowPolicy, iso: string) => nextAllowedStart(p, at(iso))?.toISOString();

/** A policy of one window: `days`, start to end, local time in `timeZone`. */
const oneWindow = (
  days: NonNullable<WindowPolicy['windows']>[number]['days'],
  start: string,
  end: string,
  timeZone: string,
): WindowPolicy => ({ windows: [{ days, start, end, timeZone }] });

const weekdaysBerlin: WindowPolicy = {
  windows: [
    { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '16:00', timeZone: 'Europe/Berlin' },
  ],
};

describe('rotation windows (pure)', () => {
  it('no rules: always inside', () => {
    expect(windowState(undefined, at('2026-12-05T03:00:00Z'))).toEqual({
      inside: true,
      nextStart: at('2026-12-05T03:00:00Z'),
    });
  });

  it('weekdays 09:00-16:00 Europe/Berlin (CET, UTC+1)', () => {
    expect(windowState(weekdaysBerlin, at('2026-12-01T08:30:00Z')).inside).toBe(true); // Tue 09:30
    expect(windowState(weekdaysBerlin, at('2026-12-01T07:59:59Z')).inside).toBe(false); // Tue 08:59:59
    // end is exclusive: Tue 16:00 is outside; next is Wed 09:00 CET
    const s = windowState(weekdaysBerlin, at('2026-12-01T15:00:00Z'));
    expect(s).toMatchObject({ inside: false, reason: 'outside every rotation window' });
    expect(s.nextStart?.toISOString()).toBe('2026-12-02T08:00:00.000Z');
    // Saturday → Monday 09:00
    expect(next(weekdaysBerlin, '2026-12-05T10:00:00Z')).toBe('2026-12-07T08:00:00.000Z');
  });

  it('Europe/Berlin spring forward (2027-03-28 02:00 CET → 03:00 CEST)', () => {
    const daily = oneWindow(['sat', 'sun'], '09:00', '10:00', 'Europe/Berlin');
    expect(next(daily, '2027-03-27T00:00:00Z')).toBe('2027-03-27T08:00:00.000Z'); // Sat 09:00 CET
    expect(next(daily, '2027-03-27T10:00:00Z')).toBe('2027-03-28T07:00:00.000Z'); // Sun 09:00 CEST
    // A start time in the gap begins right after it: 02:30 does not exist, 03:30 CEST does.
    const inGap = oneWindow(['sun'], '02:30', '04:00', 'Europe/Berlin');
    expect(next(inGap, '2027-03-27T12:00:00Z')).toBe('2027-03-28T01:30:00.000Z');
    expect(windowState(inGap, at('2027-03-28T01:59:00Z')).inside).toBe(true); // 03:59 CEST
    expect(windowState(inGap, at('2027-03-28T02:00:00Z')).inside).toBe(false); // 04:00 CEST
  });

  it('Europe/Berlin fall back (2027-10-31 03:00 CEST → 02:00 CET)', () => {
    // 02:30 happens twice; the window starts at the first one (CEST).
    const twice = oneWindow(['sun'], '02:30', '02:45', 'Europe/Berlin');
    expect(next(twice, '2027-10-30T12:00:00Z')).toBe('2027-10-31T00:30:00.000Z');
    // 09:00 on the day of the change is already CET (UTC+1).
    const nine = oneWindow(['sun'], '09:00', '17:00', 'Europe/Berlin');
    expect(next(nine, '2027-10-30T12:00:00Z')).toBe('2027-10-31T08:00:00.000Z');
    // A window spanning the change is 9 hours long, not 8: 01:00-09:00 local.
    const span = oneWindow(['sun'], '01:00', '09:00', 'Europe/Berlin');
    expect(next(span, '2027-10-30T12:00:00Z')).toBe('2027-10-30T23:00:00.000Z');
    expect(windowState(span, at('2027-10-31T07:59:00Z')).inside).toBe(true);
    expect(windowState(span, at('2027-10-31T08:00:00Z')).inside).toBe(false);
  });

  it('America/New_York across both changes (2027-03-14 and 2027-11-07)', () => {
    const ny: WindowPolicy = {
      windows: [
        {
          days: ['mon', 'tue', 'wed', 'thu', 'fri'],
          start: '09:00',
          end: '17:00',
          timeZone: 'America/New_York',
        },
      ],
    };
    // Fri 18:00 EST → Mon 09:00 EDT (UTC-4)
    expect(next(ny, '2027-03-12T23:00:00Z')).toBe('2027-03-15T13:00:00.000Z');
    // Fri 18:00 EDT → Mon 09:00 EST (UTC-5)
    expect(next(ny, '2027-11-05T22:00:00Z')).toBe('2027-11-08T14:00:00.000Z');
    // 02:30 on 2027-03-14 does not exist in New York: 03:30 EDT.
    const gap = oneWindow(['sun'], '02:30', '05:00', 'America/New_York');
    expect(next(gap, '2027-03-13T12:00:00Z')).toBe('2027-03-14T07:30:00.000Z');
    // 01:30 on 2027-11-07 happens twice: the first is EDT (05:30Z).
    const dup = oneWindow(['sun'], '01:30', '01:45', 'America/New_York');
    expect(next(dup, '2027-11-06T12:00:00Z')).toBe('2027-11-07T05:30:00.000Z');
  });

  it('windows that cross midnight or end at 24:00', () => {
    const night = oneWindow(['fri'], '22:00', '02:00', 'UTC');
    expect(windowState(night, at('2026-12-05T01:00:00Z')).inside).toBe(true); // Sat 01:00, started Fri
    expect(windowState(night, at('2026-12-05T02:00:00Z')).inside).toBe(false);
    expect(next(night, '2026-12-05T02:00:00Z')).toBe('2026-12-11T22:00:00.000Z');
    const allDay = oneWindow(['sat'], '00:00', '24:00', 'UTC');
    expect(windowState(allDay, at('2026-12-05T23:59:59Z')).inside).toBe(true);
    expect(next(allDay, '2026-12-06T00:00:00Z')).toBe('2026-12-12T00:00:00.000Z');
  });

  it('the earliest of several windows in different time zones', () => {
    const p: WindowPolicy = {
      windows: [
        { days: ['mon'], start: '09:00', end: '10:00', timeZone: 'America/New_York' }, // 14:00Z
        { days: ['mon'], start: '09:00', end: '10:00', timeZone: 'Asia/Tokyo' }, // 00:00Z Mon
      ],
    };
    expect(next(p, '2026-12-06T12:00:00Z')).toBe('2026-12-07T00:00:00.000Z');
    expect(next(p, '2026-12-07T01:00:00Z')).toBe('2026-12-07T14:00:00.000Z');
  });

  it('freezes: nothing starts inside one; a window resumes when it ends', () => {
    const p: WindowPolicy = {
      ...weekdaysBerlin,
      freezes: [{ from: '2026-12-19T00:00:00+01:00', to: '2027-01-04T12:00:00+01:00', reason: 'year end' }],
    };
    const s = windowState(p, at('2026-12-21T09:00:00Z')); // Mon 10:00, inside the window, but frozen
    expect(s).toMatchObject({ inside: false, reason: 'freeze until 2027-01-04T12:00:00+01:00 (year end)' });
    expect(s.nextStart?.toISOString()).toBe('2027-01-04T11:00:00.000Z'); // mid-window, when the freeze ends
    // freezes without windows; chained freezes
    const only: WindowPolicy = {
      freezes: [
        { from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z' },
        { from: '2026-12-02T00:00:00Z', to: '2026-12-03T00:00:00Z' },
      ],
    };
    expect(next(only, '2026-12-01T05:00:00Z')).toBe('2026-12-03T00:00:00.000Z');
    expect(windowState(only, at('2026-12-03T00:00:00Z')).inside).toBe(true);
    // frozen beyond the horizon: no next start
    const never: WindowPolicy = {
      ...weekdaysBerlin,
      freezes: [{ from: '2026-01-01T00:00:00Z', to: '2029-01-01T00:00:00Z' }],
    };
    expect(windowState(never, at('2026-12-01T09:00:00Z'))).toEqual({
      inside: false,
      reason: 'freeze until 2029-01-01T00:00:00Z',
    });
  });
});

describe('rotation windows in a credential definition (zod)', () => {
  const base = { id: 'w/app', engine: 'postgres', host: 'db', port: 5432, baseUsername: 'app' };
  const withPolicy = (policy: unknown) => () => parseCredentialDefinition({ ...base, policy });

  it('accepts windows and freezes and keeps them', () => {
    const def = parseCredentialDefinition({
      ...base,
      policy: {
        windows: [{ days: ['mon'], start: '09:00', end: '24:00', timeZone: 'America/New_York' }],
        freezes: [{ from: '2026-12-20T00:00:00Z', to: '2027-01-04T00:00:00+01:00', reason: 'holidays' }],
      },
    });
    expect(def.policy.windows?.[0]?.timeZone).toBe('America/New_York');
    expect(def.policy.freezes).toHaveLength(1);
    expect(parseCredentialDefinition(base).policy.windows).toBeUndefined();
  });

  it('names every bad field', () => {
    expect(
      withPolicy({
        windows: [{ days: ['monday'], start: '9:00', end: '25:00', timeZone: 'Europe/Berlinn' }],
      }),
    ).toThrow(
      /policy\.windows\[0\]\.days\[0\]: expected one of sun, mon.*policy\.windows\[0\]\.start: expected a local time "HH:MM".*policy\.windows\[0\]\.end: expected a local time.*policy\.windows\[0\]\.timeZone: unknown time zone/,
    );
    expect(withPolicy({ windows: [] })).toThrow(/policy\.windows: give at least one window/);
    expect(withPolicy({ windows: [{ days: [], start: '09:00', end: '10:00', timeZone: 'UTC' }] })).toThrow(
      /days: give at least one day/,
    );
    expect(
      withPolicy({ windows: [{ days: ['mon', 'mon'], start: '09:00', end: '10:00', timeZone: 'UTC' }] }),
    ).toThrow(/days: a day is listed twice/);
    expect(
      withPolicy({ windows: [{ days: ['mon'], start: '09:00', end: '09:00', timeZone: 'UTC' }] }),
    ).toThrow(/policy\.windows\[0\]\.end: start and end are equal/);
    expect(withPolicy({ freezes: [{ from: '2026-12-20T00:00:00', to: '2027-01-04T00:00:00Z' }] })).toThrow(
      /policy\.freezes\[0\]\.from: expected an ISO 8601 date-time with offset/,
    );
    expect(withPolicy({ freezes: [{ from: '2027-01-04T00:00:00Z', to: '2026-12-20T00:00:00Z' }] })).toThrow(
      /policy\.freezes\[0\]\.to: must be after "from"/,
    );
    expect(
      withPolicy({ windows: [{ days: ['mon'], start: '09:00', end: '10:00', timeZone: 'UTC', tz: 'x' }] }),
    ).toThrow(/policy\.windows\[0\]\.tz: unknown key/);
  });
});
