export { addCalendarDuration, calendarDurationParts } from './duration';
export { periodBounds, periodIndexAt } from './periods';
export {
  CalendarDuration, DurationQuery, EpochMs, Period, PeriodIndexQuery, PeriodQuery, TimeZone,
} from './schema';
export { isValidTimeZone } from './time-zone';
