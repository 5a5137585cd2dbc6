import { DateTime } from 'luxon';
import { z } from 'zod';
import type { AccountForecast } from './compute';

/** The forecast as the API answers it: instants as ISO strings, and the run-out day in the account's calendar. */

const Instant = z.iso.datetime({ offset: true });

export const ForecastQuery = z.object({
  as_of: Instant.optional().describe('the instant to forecast from (default: now); burn is measured over the windows before it'),
});

const Projection = z.object({
  window_days: z.number().int(),
  runs_out_at: Instant.nullable().describe('null: not within a year'),
  runs_out_on: z.string().nullable().describe('that instant\'s day, YYYY-MM-DD in the account\'s time zone'),
  shortfall_credits: z.number().int().describe('projected spending until period end the credits cannot cover'),
  expiring_unused_credits: z.number().int().describe('projected to expire unspent before period end, net of rollover'),
});

export const CreditForecastView = z.object({
  credit_type: z.string(),
  available_credits: z.number().int(),
  burn: z.array(z.object({
    window_days: z.number().int(),
    spent_credits: z.number().int(),
    credits_per_day: z.string().describe('exact decimal, rounded half up to hundredths'),
  })),
  projections: z.array(Projection).describe('one per trailing window (7 and 30 days)'),
  basis_window_days: z.number().int().nullable().describe('the window burning fastest, which the headline uses'),
  runs_out_at: Instant.nullable(),
  runs_out_on: z.string().nullable(),
  period_end: Instant.describe('the next renewal, or the end of the calendar month without a subscription'),
  shortfall_credits: z.number().int(),
  suggestion: z.object({
    bundle_id: z.string(),
    quantity: z.number().int(),
    credits: z.number().int(),
    price_minor: z.number().int(),
    currency: z.string(),
  }).nullable().describe('the cheapest eligible bundle purchase covering the shortfall; null when there is none'),
});

export const AccountForecastView = z.object({
  account_id: z.string(),
  billing_account_id: z.string().describe('whose credits: the account\'s own, or its parent\'s on shared billing'),
  time_zone: z.string(),
  as_of: Instant,
  credit_types: z.array(CreditForecastView),
});
export type AccountForecastView = z.infer<typeof AccountForecastView>;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const day = (ms: number | null, zone: string) =>
  (ms === null ? null : DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM-dd'));

export function forecastView(f: AccountForecast): AccountForecastView {
  return {
    account_id: f.account_id,
    billing_account_id: f.billing_account_id,
    time_zone: f.time_zone,
    as_of: new Date(f.as_of_ms).toISOString(),
    credit_types: f.credit_types.map((c) => ({
      credit_type: c.credit_type,
      available_credits: c.available_credits,
      burn: c.burn,
      projections: c.projections.map((p) => ({ window_days: p.window_days, runs_out_at: iso(p.runs_out_at_ms),
        runs_out_on: day(p.runs_out_at_ms, f.time_zone), shortfall_credits: p.shortfall_credits,
        expiring_unused_credits: p.expiring_unused_credits })),
      basis_window_days: c.basis_window_days,
      runs_out_at: iso(c.runs_out_at_ms),
      runs_out_on: day(c.runs_out_at_ms, f.time_zone),
      period_end: new Date(c.period_end_ms).toISOString(),
      shortfall_credits: c.shortfall_credits,
      suggestion: c.suggestion,
    })),
  };
}
