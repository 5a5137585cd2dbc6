import { describe, expect, it } from 'vitest';
import {
  creditsPerDay, forecast, suggestBundle, type ForecastInput, type ForecastLot, type ScheduledRenewal,
} from '../../src/forecast/forecast';

const DAY = 86_400_000;
const T = Date.parse('2026-05-01T00:00:00Z');

let seq = 0;
const lot = (credits: number, opts: Partial<ForecastLot> = {}): ForecastLot => ({ remaining_credits: credits,
  effective_from_ms: T - 100 * DAY, expires_at_ms: null, priority: 100, source_rank: 2, seq: ++seq,
  plan_of_subscription: null, ...opts });

const input = (o: Partial<ForecastInput>): ForecastInput => ({ credit_type: 'sms', as_of_ms: T, lots: [],
  committed_credits: 0, windows: [{ window_days: 7, spent_credits: 0 }, { window_days: 30, spent_credits: 0 }],
  renewals: [], period_end_ms: T + 30 * DAY, horizon_ms: T + 366 * DAY, bundles: [], preferred_currency: null, ...o });

const rate = (per7: number, per30: number) => [{ window_days: 7, spent_credits: per7 }, { window_days: 30, spent_credits: per30 }];

/** Monthly renewals every 30 days from `first`, for the synthetic calendars below. */
const renewals = (first: number, allotment: number, rollover: ScheduledRenewal['rollover'], n = 13): ScheduledRenewal[] =>
  Array.from({ length: n }, (_, k) => ({ at_ms: first + k * 30 * DAY, subscription_id: 's', allotment_credits: allotment,
    period_end_ms: first + (k + 1) * 30 * DAY, rollover }));

describe('forecast: the run-out instant', () => {
  it('a steady 10 a day runs 1,000 credits out in exactly 100 days; the 30-day window (5 a day) in 200', () => {
    const f = forecast(input({ lots: [lot(1000)], windows: rate(70, 150) }));
    expect(f.burn).toEqual([{ window_days: 7, spent_credits: 70, credits_per_day: '10.00' },
      { window_days: 30, spent_credits: 150, credits_per_day: '5.00' }]);
    expect(f.projections.map((p) => p.runs_out_at_ms)).toEqual([T + 100 * DAY, T + 200 * DAY]);
    expect(f).toMatchObject({ available_credits: 1000, basis_window_days: 7, runs_out_at_ms: T + 100 * DAY,
      shortfall_credits: 0, suggestion: null });
  });

  it('the faster window leads, whichever it is', () => {
    const f = forecast(input({ lots: [lot(1000)], windows: rate(7, 300) }));
    expect(f).toMatchObject({ basis_window_days: 30, runs_out_at_ms: T + 100 * DAY });
  });

  it('an uneven rate rounds the instant up to the millisecond: 10 credits at 7 per 30 days', () => {
    const f = forecast(input({ lots: [lot(10)], windows: [{ window_days: 30, spent_credits: 7 }] }));
    // 10 × 2,592,000,000 ms / 7 = 3,702,857,142.857… ms
    expect(f.runs_out_at_ms).toBe(T + 3_702_857_143);
  });

  it('beyond the horizon (a year) is "not within it": null', () => {
    const f = forecast(input({ lots: [lot(100)], windows: [{ window_days: 30, spent_credits: 7 }] }));
    expect(f.runs_out_at_ms).toBeNull();
  });

  it('credits that expire before they are spent are lost: soonest-expiring first, the rest later', () => {
    const f = forecast(input({ lots: [lot(1000), lot(100, { expires_at_ms: T + 5 * DAY })], windows: rate(70, 300) }));
    // 50 of the expiring 100 are spent in 5 days, 50 lapse; the 1,000 then last 100 days.
    expect(f.runs_out_at_ms).toBe(T + 105 * DAY);
    expect(f.projections[0]!.expiring_unused_credits).toBe(50);
  });

  it('what is held or owed is spoken for first', () => {
    const f = forecast(input({ lots: [lot(100)], committed_credits: 40, windows: rate(70, 300) }));
    expect(f).toMatchObject({ available_credits: 60, runs_out_at_ms: T + 6 * DAY });
  });

  it('already nothing left: runs out now, even without spending', () => {
    expect(forecast(input({ lots: [lot(10)], committed_credits: 10 })).runs_out_at_ms).toBe(T);
    expect(forecast(input({ lots: [] })).runs_out_at_ms).toBe(T);
  });

  it('nothing spent lately: never runs out, nothing to suggest', () => {
    const f = forecast(input({ lots: [lot(5)], bundles: [{ bundle_id: 'b', amount_credits: 500, price_minor: 1, currency: 'USD' }] }));
    expect(f).toMatchObject({ runs_out_at_ms: null, shortfall_credits: 0, suggestion: null });
    expect(f.burn.map((b) => b.credits_per_day)).toEqual(['0.00', '0.00']);
  });

  it('credits that start later count from when they start', () => {
    const f = forecast(input({ lots: [lot(50), lot(100, { effective_from_ms: T + 20 * DAY })], windows: rate(70, 300),
      period_end_ms: T + 30 * DAY }));
    expect(f.available_credits).toBe(50);
    expect(f.runs_out_at_ms).toBe(T + 5 * DAY);
    // Until period end: 300 wanted; 50 now and 100 from day 20 cover 150 of the first 200 and all of the last 100.
    expect(f.shortfall_credits).toBe(150);
  });
});

describe('forecast: renewals', () => {
  it('a plan without rollover: runs out before renewal, the shortfall until then is suggested as a bundle', () => {
    const R = T + 10 * DAY;
    const f = forecast(input({ lots: [lot(300, { expires_at_ms: R, source_rank: 0, plan_of_subscription: 's' })],
      windows: rate(350, 1500), renewals: renewals(R, 300, { kind: 'none' }), period_end_ms: R,
      bundles: [{ bundle_id: 'small', amount_credits: 500, price_minor: 2500, currency: 'USD' },
        { bundle_id: 'big', amount_credits: 5000, price_minor: 20000, currency: 'USD' }], preferred_currency: 'USD' }));
    expect(f.runs_out_at_ms).toBe(T + 6 * DAY);
    expect(f.shortfall_credits).toBe(200);
    expect(f.suggestion).toEqual({ bundle_id: 'small', quantity: 1, credits: 500, price_minor: 2500, currency: 'USD' });
  });

  it('a capped rollover carries 500 each month: with 10 a day and 1,000 a month it never runs out', () => {
    const R = T + 10 * DAY;
    const f = forecast(input({ lots: [lot(1000, { expires_at_ms: R, source_rank: 0, plan_of_subscription: 's' })],
      windows: rate(70, 300), renewals: renewals(R, 1000, { kind: 'capped', max_credits: 500 }), period_end_ms: R }));
    expect(f.runs_out_at_ms).toBeNull();
    // At the first renewal 900 are left, 500 roll over: 400 lapse.
    expect(f.projections[0]!.expiring_unused_credits).toBe(400);
  });

  it('rollover is what is left of the plan\'s credits only: a bundle expiring at the same instant is not rolled', () => {
    const R = T + 10 * DAY;
    const f = forecast(input({ lots: [lot(100, { expires_at_ms: R, source_rank: 0, plan_of_subscription: 's' }),
      lot(1000, { expires_at_ms: R })], windows: rate(70, 300), period_end_ms: R,
      renewals: renewals(R, 0, { kind: 'full' }, 1) }));
    // Plan credits expire first in burn order (source rank 0): 100 spent in 10 days, nothing to roll; 1,000 lapse.
    expect(f.projections[0]!.expiring_unused_credits).toBe(1000);
    expect(f.runs_out_at_ms).toBe(R);
  });

  it('after running out, the next renewal refills: the first run-out is the answer', () => {
    const R = T + 10 * DAY;
    const f = forecast(input({ lots: [lot(50, { expires_at_ms: R, source_rank: 0, plan_of_subscription: 's' })],
      windows: rate(70, 300), renewals: renewals(R, 300, { kind: 'none' }), period_end_ms: R }));
    expect(f.runs_out_at_ms).toBe(T + 5 * DAY);
    expect(f.shortfall_credits).toBe(50);
  });
});

describe('forecast: suggestions and rates', () => {
  const bundles = [
    { bundle_id: 'usd-500', amount_credits: 500, price_minor: 2500, currency: 'USD' },
    { bundle_id: 'usd-5000', amount_credits: 5000, price_minor: 20000, currency: 'USD' },
    { bundle_id: 'eur-1000', amount_credits: 1000, price_minor: 1000, currency: 'EUR' },
  ];

  it.each([
    [1, 'USD', 'usd-500', 1], [500, 'USD', 'usd-500', 1], [501, 'USD', 'usd-500', 2], [4001, 'USD', 'usd-5000', 1],
    [4000, 'USD', 'usd-500', 8], [1500, 'EUR', 'eur-1000', 2], [1500, null, 'eur-1000', 2],
  ])('%i credits, preferring %s → %s × %i', (credits, currency, id, quantity) => {
    expect(suggestBundle(credits, bundles, currency)).toMatchObject({ bundle_id: id, quantity });
  });

  it('nothing to cover or nothing on sale → no suggestion', () => {
    expect(suggestBundle(0, bundles, 'USD')).toBeNull();
    expect(suggestBundle(10, [], 'USD')).toBeNull();
  });

  it.each([[10, 7, '1.43'], [1, 8, '0.13'], [0, 30, '0.00'], [3000, 30, '100.00'], [2, 3, '0.67'], [1, 200, '0.01']])(
    '%i credits over %i days is %s a day', (spent, days, text) => {
      expect(creditsPerDay(spent, days)).toBe(text);
    });
});
