import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { periodBounds, periodIndexAt } from '../../src/calendar';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** An instant from a local wall-clock reading in `zone` (luxon's own resolution, fine for unambiguous times). */
const local = (iso: string, zone: string) => DateTime.fromISO(iso, { zone }).toMillis();
const show = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toFormat("yyyy-MM-dd'T'HH:mm");

// Local start dates of 25 periods anchored on Jan 31: clamped to each month's last day, computed from the anchor
// every time (Feb 28 does not pull March back to the 28th), through a non-leap (2027) and a leap (2028) February.
const JAN_31_STARTS = [
  '2027-01-31', '2027-02-28', '2027-03-31', '2027-04-30', '2027-05-31', '2027-06-30', '2027-07-31', '2027-08-31',
  '2027-09-30', '2027-10-31', '2027-11-30', '2027-12-31', '2028-01-31', '2028-02-29', '2028-03-31', '2028-04-30',
  '2028-05-31', '2028-06-30', '2028-07-31', '2028-08-31', '2028-09-30', '2028-10-31', '2028-11-30', '2028-12-31',
  '2029-01-31', '2029-02-28',
];

describe('periodBounds', () => {
  // 23:30 local is already the next (or previous) day in UTC in two of these zones, so a clamp on the UTC date
  // instead of the local one would show.
  describe.each(['UTC', 'America/New_York', 'Pacific/Auckland'])('a Jan 31 anchor in %s', (zone) => {
    const anchor_ms = local('2027-01-31T23:30', zone);
    const periods = Array.from({ length: 25 }, (_, index) => periodBounds({ anchor_ms, time_zone: zone, index }));

    it('starts every period on the 31st or the month’s last day, at 23:30 local', () => {
      expect(periods.map((p) => show(p.start_ms, zone))).toEqual(JAN_31_STARTS.slice(0, 25).map((d) => `${d}T23:30`));
      expect(show(periods[24]!.end_ms, zone)).toBe(`${JAN_31_STARTS[25]}T23:30`);
    });

    it('tiles time: each period ends where the next starts, and period 0 starts at the anchor', () => {
      expect(periods[0]!.start_ms).toBe(anchor_ms);
      periods.forEach((p, i) => {
        expect(p.index).toBe(i);
        expect(p.end_ms).toBeGreaterThan(p.start_ms);
        if (i > 0) expect(p.start_ms).toBe(periods[i - 1]!.end_ms);
      });
    });
  });

  it('keeps the local time across DST, so a period spanning a change is an hour short or long', () => {
    const ny = 'America/New_York';
    const anchor_ms = local('2026-01-15T09:00', ny);
    const feb = periodBounds({ anchor_ms, time_zone: ny, index: 1 }); // Feb 15 → Mar 15, clocks forward Mar 8
    expect(show(feb.end_ms, ny)).toBe('2026-03-15T09:00');
    expect(feb.end_ms - feb.start_ms).toBe(28 * DAY_MS - HOUR_MS);
    const oct = periodBounds({ anchor_ms, time_zone: ny, index: 9 }); // Oct 15 → Nov 15, clocks back Nov 1
    expect(oct.end_ms - oct.start_ms).toBe(31 * DAY_MS + HOUR_MS);

    const akl = 'Pacific/Auckland';
    const nz_anchor_ms = local('2026-03-20T08:00', akl); // NZDT; clocks back Apr 5, forward Sep 27
    const starts = [0, 1, 6, 7].map((index) => periodBounds({ anchor_ms: nz_anchor_ms, time_zone: akl, index }).start_ms);
    expect(starts.map((ms) => DateTime.fromMillis(ms, { zone: akl }).toISO())).toEqual([
      '2026-03-20T08:00:00.000+13:00', '2026-04-20T08:00:00.000+12:00',
      '2026-09-20T08:00:00.000+12:00', '2026-10-20T08:00:00.000+13:00',
    ]);
  });

  it('pushes a skipped local time forward by the gap (02:30 on a spring-forward day is 03:30)', () => {
    const ny = 'America/New_York';
    const p = periodBounds({ anchor_ms: local('2026-02-08T02:30', ny), time_zone: ny, index: 1 });
    expect(p.start_ms).toBe(Date.parse('2026-03-08T03:30:00-04:00'));
    // The month after, 02:30 exists again.
    expect(p.end_ms).toBe(Date.parse('2026-04-08T02:30:00-04:00'));
  });

  it('resolves a repeated local time to its first occurrence, whatever the anchor’s own offset', () => {
    const ny = 'America/New_York';
    const summer = periodBounds({ anchor_ms: local('2026-10-01T01:30', ny), time_zone: ny, index: 1 });
    expect(summer.start_ms).toBe(Date.parse('2026-11-01T01:30:00-04:00'));
    // A winter anchor (EST): luxon on its own would pick the second 01:30 (EST) here.
    const winter = periodBounds({ anchor_ms: local('2026-12-07T01:30', ny), time_zone: ny, index: 11 });
    expect(winter.start_ms).toBe(Date.parse('2027-11-07T01:30:00-04:00'));
  });

  it('starts period 0 exactly at an anchor taken in the second pass of a repeated hour', () => {
    const ny = 'America/New_York';
    const anchor_ms = Date.parse('2026-11-01T01:30:00-05:00');
    const p = periodBounds({ anchor_ms, time_zone: ny, index: 0 });
    expect(p.start_ms).toBe(anchor_ms);
    expect(p.end_ms).toBe(Date.parse('2026-12-01T01:30:00-05:00'));
  });

  it('lands on the next day when the zone skips the whole day (Samoa, 2011-12-30)', () => {
    const apia = 'Pacific/Apia';
    const p = periodBounds({ anchor_ms: local('2011-11-30T10:00', apia), time_zone: apia, index: 1 });
    expect(DateTime.fromMillis(p.start_ms, { zone: apia }).toISO()).toBe('2011-12-31T10:00:00.000+14:00');
  });

  it('bills annually with interval_months 12, a Feb 29 anchor falling back to Feb 28', () => {
    const anchor_ms = Date.parse('2028-02-29T12:00:00Z');
    const starts = [0, 1, 2, 3, 4].map((index) =>
      periodBounds({ anchor_ms, time_zone: 'UTC', index, interval_months: 12 }).start_ms);
    expect(starts.map((ms) => new Date(ms).toISOString().slice(0, 10)))
      .toEqual(['2028-02-29', '2029-02-28', '2030-02-28', '2031-02-28', '2032-02-29']);
  });

  it('rejects an unknown zone, a negative or fractional index and a non-integer instant', () => {
    const anchor_ms = Date.parse('2026-01-31T00:00:00Z');
    expect(() => periodBounds({ anchor_ms, time_zone: 'Mars/Olympus_Mons', index: 0 })).toThrow();
    expect(() => periodBounds({ anchor_ms, time_zone: '+05:00', index: 0 })).toThrow();
    expect(() => periodBounds({ anchor_ms, time_zone: 'UTC', index: -1 })).toThrow();
    expect(() => periodBounds({ anchor_ms, time_zone: 'UTC', index: 1.5 })).toThrow();
    expect(() => periodBounds({ anchor_ms: 0.5, time_zone: 'UTC', index: 0 })).toThrow();
    expect(() => periodBounds({ anchor_ms: Number.NaN, time_zone: 'UTC', index: 0 })).toThrow();
    expect(() => periodBounds({ anchor_ms, time_zone: 'UTC', index: 200_000 })).toThrow(RangeError);
  });
});

describe('periodIndexAt', () => {
  const zone = 'America/New_York';
  const anchor_ms = local('2027-01-31T23:30', zone);

  it('places each boundary in the period it starts, and the instant before it in the one before', () => {
    for (let index = 0; index < 25; index++) {
      const { start_ms, end_ms } = periodBounds({ anchor_ms, time_zone: zone, index });
      expect(periodIndexAt({ anchor_ms, time_zone: zone, at_ms: start_ms })).toBe(index);
      expect(periodIndexAt({ anchor_ms, time_zone: zone, at_ms: end_ms - 1 })).toBe(index);
    }
  });

  it('handles an instant whose local month is past the period’s own (Feb 28 23:45 is still period 1)', () => {
    expect(periodIndexAt({ anchor_ms, time_zone: zone, at_ms: local('2027-03-01T00:10', zone) })).toBe(1);
    expect(periodIndexAt({ anchor_ms, time_zone: zone, at_ms: local('2027-03-31T23:29', zone) })).toBe(1);
    expect(periodIndexAt({ anchor_ms, time_zone: zone, at_ms: local('2027-03-31T23:30', zone) })).toBe(2);
  });

  it('refuses an instant before the anchor', () => {
    expect(() => periodIndexAt({ anchor_ms, time_zone: zone, at_ms: anchor_ms - 1 })).toThrow(RangeError);
  });
});
