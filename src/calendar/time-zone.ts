import { IANAZone } from 'luxon';

/**
 * The shape of an IANA name ("UTC", "America/New_York", "Etc/GMT+5"). It keeps out UTC offsets such as "+05:00",
 * which newer ICU builds accept as zones but which have no daylight-saving rules, so a subscription anchored in one
 * would drift from its owner's wall clock twice a year.
 */
const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

/**
 * True for a time zone name the runtime's tz database knows (ICU matches names case-insensitively, as Postgres
 * does). Used by zod refinements wherever a zone enters the system.
 */
export function isValidTimeZone(tz: string): boolean {
  return typeof tz === 'string' && IANA_NAME.test(tz) && IANAZone.isValidZone(tz);
}
