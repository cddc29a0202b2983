import { describe, expect, it } from 'vitest';
import { firstRunAt, intervalOffsetMs } from '../src/schedules';

const DAY_MS = 86_400_000;

describe('first run of an "every N days" schedule', () => {
  const now = new Date('2026-12-01T10:00:00.000Z');

  it('is N days after the last rotation, rounded up to a second', () => {
    expect(firstRunAt(new Date('2026-11-20T08:15:30.250Z'), 30, now).toISOString()).toBe(
      '2026-12-20T08:15:31.000Z',
    );
  });

  it('is a minute from now when the credential is overdue', () => {
    expect(firstRunAt(new Date('2026-01-01T00:00:00Z'), 90, now).toISOString()).toBe(
      '2026-12-01T10:01:00.000Z',
    );
  });

  it('the interval offset puts a run exactly on that time (epoch + k·every + offset)', () => {
    const at = new Date('2026-12-20T08:15:31.000Z');
    const every = 30 * DAY_MS;
    const offset = intervalOffsetMs(at, every);
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset).toBeLessThan(every);
    expect((at.getTime() - offset) % every).toBe(0);
  });
});
