import { DateTime } from 'luxon';
import { PeriodIndexQuery, PeriodQuery, type Period } from './schema';
import { stepOnCalendar } from './wall-clock';

/**
 * Start of period `index`. Always measured from the anchor, never from the previous start, so a clamped month
 * (Jan 31 → Feb 28) does not shorten every later one (→ Mar 31, not Mar 28). Period 0 is the anchor instant
 * itself, even when the anchor sits in the second pass of a repeated hour.
 */
function startOf(anchor_ms: number, time_zone: string, interval_months: number, index: number): number {
  if (index === 0) return anchor_ms;
  return stepOnCalendar(anchor_ms, time_zone, { years: 0, months: index * interval_months, days: 0 });
}

/** Period `index` of a subscription billed every `interval_months` (default 1) from `anchor_ms`. */
export function periodBounds(query: PeriodQuery): Period {
  const { anchor_ms, time_zone, index, interval_months } = PeriodQuery.parse(query);
  return {
    index,
    start_ms: startOf(anchor_ms, time_zone, interval_months, index),
    end_ms: startOf(anchor_ms, time_zone, interval_months, index + 1),
  };
}

/**
 * The index of the period that contains `at_ms` (start inclusive, end exclusive). An instant before the anchor
 * belongs to no period: that is a caller's bug, so it throws a RangeError rather than answering.
 */
export function periodIndexAt(query: PeriodIndexQuery): number {
  const { anchor_ms, time_zone, at_ms, interval_months } = PeriodIndexQuery.parse(query);
  if (at_ms < anchor_ms) {
    throw new RangeError(`instant ${at_ms} is before the subscription's anchor ${anchor_ms}`);
  }
  // Period n starts in local month anchor + n·interval (bar a skipped day), so the local month count is within
  // one of the answer; the loops settle it exactly against the same boundaries periodBounds returns.
  const anchor = DateTime.fromMillis(anchor_ms, { zone: time_zone });
  const at = DateTime.fromMillis(at_ms, { zone: time_zone });
  const months = (at.year - anchor.year) * 12 + (at.month - anchor.month);
  let index = Math.max(0, Math.floor(months / interval_months));
  while (index > 0 && startOf(anchor_ms, time_zone, interval_months, index) > at_ms) index--;
  while (startOf(anchor_ms, time_zone, interval_months, index + 1) <= at_ms) index++;
  return index;
}
