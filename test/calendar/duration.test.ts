import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { addCalendarDuration, calendarDurationParts, CalendarDuration } from '../../src/calendar';

const local = (iso: string, zone: string) => DateTime.fromISO(iso, { zone }).toMillis();
const show = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toISO();

describe('addCalendarDuration', () => {
  it('gives a bundle bought on Feb 29 2028 and valid two years until Feb 28 2030', () => {
    const from_ms = local('2028-02-29T14:15', 'Europe/Paris');
    expect(show(addCalendarDuration({ from_ms, duration: 'P2Y', time_zone: 'Europe/Paris' }), 'Europe/Paris'))
      .toBe('2030-02-28T14:15:00.000+01:00');
    // Four years on, Feb 29 exists again.
    expect(show(addCalendarDuration({ from_ms, duration: 'P4Y', time_zone: 'Europe/Paris' }), 'Europe/Paris'))
      .toBe('2032-02-29T14:15:00.000+01:00');
  });

  it('clamps a month to its last day, in leap and common years', () => {
    const add = (iso: string, duration: string) =>
      show(addCalendarDuration({ from_ms: local(iso, 'UTC'), duration, time_zone: 'UTC' }), 'UTC');
    expect(add('2028-01-31T00:00', 'P1M')).toBe('2028-02-29T00:00:00.000Z');
    expect(add('2027-01-31T00:00', 'P1M')).toBe('2027-02-28T00:00:00.000Z');
    expect(add('2027-01-31T00:00', 'P3M')).toBe('2027-04-30T00:00:00.000Z');
    // Years and months first (clamped), then days: Jan 31 + 1 month = Feb 28, + 1 day = Mar 1.
    expect(add('2027-01-31T00:00', 'P1M1D')).toBe('2027-03-01T00:00:00.000Z');
    expect(add('2027-01-31T00:00', 'P1Y1M')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('counts days on the local calendar: P30D across a DST change keeps the wall-clock time', () => {
    const ny = 'America/New_York';
    const from_ms = local('2026-02-20T10:00', ny);
    const to_ms = addCalendarDuration({ from_ms, duration: 'P30D', time_zone: ny });
    expect(show(to_ms, ny)).toBe('2026-03-22T10:00:00.000-04:00');
    expect(to_ms - from_ms).toBe(30 * 86_400_000 - 3_600_000);
  });

  it('uses the calendar of the zone it is given, not UTC’s', () => {
    // 2027-01-31 20:00 in New York is already Feb 1 in UTC: a UTC calendar would answer Mar 1.
    const from_ms = local('2027-01-31T20:00', 'America/New_York');
    expect(show(addCalendarDuration({ from_ms, duration: 'P1M', time_zone: 'America/New_York' }), 'America/New_York'))
      .toBe('2027-02-28T20:00:00.000-05:00');
  });

  it.each([
    '', 'P', 'P0D', 'P0Y0M0D', 'P1W', 'PT1H', 'P1DT1H', 'P1.5Y', 'P1,5Y', '-P1Y', 'P-1Y', 'p1y', 'P1y', 'P1Y1Y',
    'P1D1M', 'P1M1Y', ' P1Y', 'P1Y ', '1Y', 'P1234567Y', 'two years',
  ])('rejects %j', (duration) => {
    expect(CalendarDuration.safeParse(duration).success).toBe(false);
    expect(() => calendarDurationParts(duration)).toThrow();
    expect(() => addCalendarDuration({ from_ms: 0, duration, time_zone: 'UTC' })).toThrow();
  });

  it.each([
    ['P2Y', { years: 2, months: 0, days: 0 }], ['P1M', { years: 0, months: 1, days: 0 }],
    ['P30D', { years: 0, months: 0, days: 30 }], ['P1Y6M', { years: 1, months: 6, days: 0 }],
    ['P0Y1D', { years: 0, months: 0, days: 1 }], ['P1Y2M3D', { years: 1, months: 2, days: 3 }],
  ])('reads %s', (duration, parts) => {
    expect(calendarDurationParts(duration)).toEqual(parts);
  });

  it('rejects an unknown time zone and a result past year 9999', () => {
    expect(() => addCalendarDuration({ from_ms: 0, duration: 'P1Y', time_zone: 'Europe/Atlantis' })).toThrow();
    expect(() => addCalendarDuration({ from_ms: Date.parse('9999-06-01T00:00:00Z'), duration: 'P1Y', time_zone: 'UTC' }))
      .toThrow(RangeError);
  });
});
