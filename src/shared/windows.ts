/**
 * Rotation windows and freezes: when a rotation may start and when an old
 * credential may be revoked. Pure and deterministic (no clock read: callers
 * pass the time), so workflows use it with workflow time, activities and the
 * CLI with wall time. Time zones go through Intl (the IANA database of the
 * runtime), so DST is handled by the same rules the operating system uses.
 *
 * A window is a daily time range on some days of the week in one time zone;
 * `end` before `start` crosses midnight (the day is the day it starts on),
 * `end` "24:00" is the end of the day. A local start time that does not exist
 * (spring-forward gap) begins right after the gap; one that exists twice
 * (fall-back) means the first. Freezes are absolute periods [from, to) in
 * which nothing starts, whatever the windows say. No windows: always open.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface RotationWindow {
  days: Weekday[];
  /** Local time "HH:MM" (00:00–23:59). */
  start: string;
  /** Local time "HH:MM" (00:01–24:00); before `start` means the window ends the next day. */
  end: string;
  /** IANA time zone, e.g. "Europe/Berlin". */
  timeZone: string;
}

export interface FreezePeriod {
  /** ISO 8601 date-time with offset, e.g. "2026-12-20T00:00:00+01:00". */
  from: string;
  to: string;
  reason?: string;
}

export interface WindowPolicy {
  windows?: RotationWindow[];
  freezes?: FreezePeriod[];
}

export interface WindowState {
  inside: boolean;
  /** Why not inside ("outside every rotation window", "freeze until … (reason)"). */
  reason?: string;
  /** The next time a rotation may start: `at` itself when inside; absent when never (no window within a year). */
  nextStart?: Date;
}

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** How far ahead we look for the next window (a long freeze may cover months). */
const HORIZON_DAYS = 400;

export function hasWindowRules(p: WindowPolicy | undefined): boolean {
  return (p?.windows?.length ?? 0) > 0 || (p?.freezes?.length ?? 0) > 0;
}

/** Where `at` stands: inside a window (and no freeze), and when the next start is. */
export function windowState(p: WindowPolicy | undefined, at: Date): WindowState {
  const nextStart = nextAllowedStart(p, at);
  if (nextStart && nextStart.getTime() === at.getTime()) return { inside: true, nextStart };
  const freeze = activeFreeze(p, at.getTime());
  const reason = freeze
    ? `freeze until ${freeze.to}${freeze.reason ? ` (${freeze.reason})` : ''}`
    : 'outside every rotation window';
  return nextStart ? { inside: false, reason, nextStart } : { inside: false, reason };
}

/** The earliest time ≥ `at` inside a window and outside every freeze (undefined: none within the horizon). */
export function nextAllowedStart(p: WindowPolicy | undefined, at: Date): Date | undefined {
  const t0 = at.getTime();
  const windows = p?.windows ?? [];
  if (windows.length === 0) {
    const t = skipFreezes(p, t0);
    return t - t0 > HORIZON_DAYS * DAY_MS ? undefined : new Date(t);
  }
  // Most answers are within two weeks; look further only when a freeze covers them.
  for (const days of [14, HORIZON_DAYS]) {
    for (const [start, end] of windowIntervals(windows, t0, days)) {
      if (end <= t0) continue;
      const t = skipFreezes(p, Math.max(start, t0));
      if (t < end) return new Date(t); // a freeze may end inside this window, or after it
    }
  }
  return undefined;
}

/** Instants [start, end) of every window occurrence from the day before `t0` on, sorted by start. */
function windowIntervals(windows: RotationWindow[], t0: number, days: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const w of windows) {
    const first = localDate(t0, w.timeZone);
    const startMin = minutes(w.start);
    const endMin = minutes(w.end);
    for (let i = -1; i <= days; i++) {
      const day = addDays(first, i);
      if (!w.days.includes(WEEKDAYS[weekday(day)]!)) continue;
      const start = zonedToInstant(day, startMin, w.timeZone);
      const end = zonedToInstant(endMin > startMin ? day : addDays(day, 1), endMin % (24 * 60), w.timeZone, {
        endOfDay: endMin === 24 * 60,
      });
      out.push([start, end]);
    }
  }
  return out.sort((a, b) => a[0] - b[0]);
}

function activeFreeze(p: WindowPolicy | undefined, t: number): FreezePeriod | undefined {
  return (p?.freezes ?? []).find((f) => Date.parse(f.from) <= t && t < Date.parse(f.to));
}

/** Moves `t` to the end of every freeze it falls into (freezes may chain or overlap). */
function skipFreezes(p: WindowPolicy | undefined, t: number): number {
  for (let f = activeFreeze(p, t); f; f = activeFreeze(p, t)) t = Date.parse(f.to);
  return t;
}

// ---------------------------------------------------------------- calendar arithmetic

interface LocalDate {
  y: number;
  m: number; // 1-12
  d: number;
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

function addDays(day: LocalDate, n: number): LocalDate {
  const u = new Date(Date.UTC(day.y, day.m - 1, day.d + n));
  return { y: u.getUTCFullYear(), m: u.getUTCMonth() + 1, d: u.getUTCDate() };
}

function weekday(day: LocalDate): number {
  return new Date(Date.UTC(day.y, day.m - 1, day.d)).getUTCDay();
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock in `timeZone` at instant `t`, as if it were UTC (ms). */
function wallClock(t: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(t))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

function localDate(t: number, timeZone: string): LocalDate {
  const w = new Date(wallClock(t, timeZone));
  return { y: w.getUTCFullYear(), m: w.getUTCMonth() + 1, d: w.getUTCDate() };
}

/** UTC offset (ms) of `timeZone` at instant `t`. */
export function utcOffsetMs(t: number, timeZone: string): number {
  return wallClock(Math.floor(t / 1000) * 1000, timeZone) - Math.floor(t / 1000) * 1000;
}

/**
 * The instant of local time `day` + `min` in `timeZone`. A time in a DST gap
 * maps to the same distance past the gap (02:30 in a 02:00→03:00 gap is
 * 03:30); a repeated time maps to its first occurrence. `endOfDay`: 24:00,
 * i.e. the start of the next day.
 */
function zonedToInstant(
  day: LocalDate,
  min: number,
  timeZone: string,
  o: { endOfDay?: boolean } = {},
): number {
  const target = o.endOfDay ? addDays(day, 1) : day;
  const local = Date.UTC(target.y, target.m - 1, target.d, Math.floor(min / 60), min % 60);
  const before = utcOffsetMs(local - DAY_MS, timeZone);
  const after = utcOffsetMs(local + DAY_MS, timeZone);
  const candidates = [local - before, local - after].filter((t) => wallClock(t, timeZone) === local);
  if (candidates.length > 0) return Math.min(...candidates);
  return local - before; // in the gap: the offset before the jump puts it after the gap
}

// ---------------------------------------------------------------- validation helpers

/** Whether the runtime knows this IANA time zone. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** "Tue 2026-12-01 09:00 Europe/Berlin (08:00Z)": a start time as operators read it. */
export function describeInstant(t: Date, timeZone: string): string {
  const w = new Date(wallClock(t.getTime(), timeZone));
  const day = WEEKDAYS[w.getUTCDay()]!;
  const iso = w.toISOString();
  return `${day[0]!.toUpperCase()}${day.slice(1)} ${iso.slice(0, 10)} ${iso.slice(11, 16)} ${timeZone} (${t.toISOString()})`;
}
