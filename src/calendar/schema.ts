import { z } from 'zod';
import { isValidTimeZone } from './time-zone';

/** Instants we compute with: 0001-01-01 to 9999-12-31 UTC, the years ISO 8601 writes with four digits. */
export const EPOCH_MS_MIN = Date.parse('0001-01-01T00:00:00.000Z');
export const EPOCH_MS_MAX = Date.parse('9999-12-31T23:59:59.999Z');

export const EpochMs = z.number().int().min(EPOCH_MS_MIN).max(EPOCH_MS_MAX)
  .describe('an instant as milliseconds since 1970-01-01T00:00:00Z');

export const TimeZone = z.string().refine(isValidTimeZone, 'an IANA time zone name, e.g. "America/New_York"');

/**
 * An ISO 8601 duration of whole years, months and days, in that order, not all zero: "P2Y", "P1M", "P30D",
 * "P1Y6M". Weeks, times and fractions are refused: a validity is counted on the calendar, never in hours.
 */
export const CalendarDuration = z.string()
  .regex(/^P(?:\d{1,6}Y)?(?:\d{1,6}M)?(?:\d{1,7}D)?$/, 'an ISO 8601 duration of years/months/days, e.g. "P2Y" or "P30D"')
  .refine((d) => /[1-9]/.test(d), 'a duration longer than zero');

export const PeriodQuery = z.object({
  anchor_ms: EpochMs.describe('the instant the subscription started: period 0 starts exactly here'),
  time_zone: TimeZone.describe('the zone whose calendar and wall clock the periods follow'),
  index: z.number().int().nonnegative().describe('0-based period number'),
  interval_months: z.number().int().positive().max(1200).default(1).describe('12 for annual billing'),
});
export type PeriodQuery = z.input<typeof PeriodQuery>;

export const PeriodIndexQuery = z.object({
  anchor_ms: EpochMs,
  time_zone: TimeZone,
  at_ms: EpochMs.describe('the instant to place; not before anchor_ms'),
  interval_months: z.number().int().positive().max(1200).default(1),
});
export type PeriodIndexQuery = z.input<typeof PeriodIndexQuery>;

export const DurationQuery = z.object({
  from_ms: EpochMs,
  duration: CalendarDuration,
  time_zone: TimeZone,
});
export type DurationQuery = z.input<typeof DurationQuery>;

/** A billing period: [start_ms, end_ms), so end_ms of period n is start_ms of period n + 1. */
export const Period = z.object({
  index: z.number().int().nonnegative(),
  start_ms: EpochMs,
  end_ms: EpochMs,
});
export type Period = z.infer<typeof Period>;
