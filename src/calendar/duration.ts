import { CalendarDuration, DurationQuery } from './schema';
import { stepOnCalendar, type CalendarStep } from './wall-clock';

/** The years, months and days of a valid calendar duration ("P1Y6M" → 1, 6, 0). Throws on anything else. */
export function calendarDurationParts(duration: string): CalendarStep {
  const match = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?$/.exec(CalendarDuration.parse(duration))!;
  return { years: Number(match[1] ?? 0), months: Number(match[2] ?? 0), days: Number(match[3] ?? 0) };
}

/**
 * `from_ms` plus an ISO 8601 calendar duration on the calendar of `time_zone` ("valid 2 years" from
 * 2028-02-29 is 2030-02-28 at the same wall-clock time). Rules for clamping and DST as in stepOnCalendar.
 */
export function addCalendarDuration(query: DurationQuery): number {
  const { from_ms, duration, time_zone } = DurationQuery.parse(query);
  return stepOnCalendar(from_ms, time_zone, calendarDurationParts(duration));
}
