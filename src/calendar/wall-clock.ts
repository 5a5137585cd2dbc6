import { DateTime } from 'luxon';
import { EPOCH_MS_MAX, EPOCH_MS_MIN } from './schema';

export interface CalendarStep {
  years: number;
  months: number;
  days: number;
}

/**
 * Moves `from_ms` by whole years, months and days on the calendar of `time_zone`, keeping its wall-clock time.
 *
 * - Years and months first, then days (as ISO 8601 and TC39 Temporal do): the day of month is clamped to the
 *   target month's last day, so Jan 31 + 1 month is Feb 28 (Feb 29 in a leap year).
 * - A wall-clock time the zone skips that day (clocks going forward) is pushed forward by the length of the gap:
 *   02:30 on a day that jumps from 02:00 to 03:00 becomes 03:30. A skipped whole day (Pacific/Apia, 2011-12-30)
 *   lands on the next one.
 * - A wall-clock time that occurs twice (clocks going back) resolves to the earlier instant, whatever the offset
 *   of `from_ms`. Luxon alone would pick by the starting offset (a summer anchor one way, a winter anchor the
 *   other); a fixed rule keeps every caller, and every period boundary, on the same instant.
 *
 * Throws RangeError when the result leaves years 0001–9999.
 */
export function stepOnCalendar(from_ms: number, time_zone: string, step: CalendarStep): number {
  const moved = DateTime.fromMillis(from_ms, { zone: time_zone }).plus(step);
  const at_ms = Math.min(...moved.getPossibleOffsets().map((d) => d.toMillis()));
  if (!moved.isValid || !Number.isSafeInteger(at_ms) || at_ms < EPOCH_MS_MIN || at_ms > EPOCH_MS_MAX) {
    throw new RangeError(`moving ${from_ms} by ${JSON.stringify(step)} in ${time_zone} leaves years 0001-9999`);
  }
  return at_ms;
}
