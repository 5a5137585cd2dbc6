import { describe, expect, it } from 'vitest';
import { isValidTimeZone, TimeZone } from '../../src/calendar';

describe('isValidTimeZone', () => {
  it.each(['UTC', 'Etc/UTC', 'America/New_York', 'Pacific/Auckland', 'Asia/Kathmandu', 'America/Argentina/Buenos_Aires',
    'Etc/GMT+5', 'US/Eastern'])('accepts %s', (tz) => {
    expect(isValidTimeZone(tz)).toBe(true);
    expect(TimeZone.safeParse(tz).success).toBe(true);
  });

  // Offsets are refused even where the runtime would accept them: they carry no DST rules.
  it.each(['', ' ', 'Mars/Olympus_Mons', 'America/New York', '+05:00', '-0330', 'UTC+3', 'GMT+01:00', 'Z',
    'America/', '/UTC', 'America//New_York', ' UTC', 'UTC ', '../etc/passwd'])('rejects %j', (tz) => {
    expect(isValidTimeZone(tz)).toBe(false);
    expect(TimeZone.safeParse(tz).success).toBe(false);
  });

  it('rejects what is not a string, for callers outside the type checker', () => {
    expect(isValidTimeZone(undefined as unknown as string)).toBe(false);
    expect(isValidTimeZone(42 as unknown as string)).toBe(false);
  });
});
