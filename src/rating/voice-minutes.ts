import type { VoiceRounding } from './schema';

export interface BillableMinutes {
  duration_s: number;
  /** The duration after the minimum was applied. */
  billable_s: number;
  minutes: number;
}

const ceilDiv = (a: number, b: number) => (a - (a % b)) / b + (a % b > 0 ? 1 : 0);

/**
 * Whole minutes billed for one call, computed per call (never summed over calls first, which would undercharge).
 * `ceil_minute`: every started minute counts (61 s → 2). `first_minute_then_ceil`: the first minute is billed whole
 * however short the call (10 s → 1), then every started minute. `minimum_billable_s` raises a shorter call to it.
 */
export function billableMinutes(duration_s: number, rounding: VoiceRounding, minimum_billable_s: number): BillableMinutes {
  const minimum = rounding === 'first_minute_then_ceil' ? Math.max(60, minimum_billable_s) : minimum_billable_s;
  const billable_s = Math.max(duration_s, minimum);
  return { duration_s, billable_s, minutes: ceilDiv(billable_s, 60) };
}
