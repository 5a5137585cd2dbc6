import { ApplicationFailure } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/catalog';
import { createForecastActivities } from '../../src/forecast';
import { debit, grantCredits } from '../../src/ledger';
import { expectProblem, useApi } from '../support/api';

const h = useApi();
const DAY = 86_400_000;
const ANCHOR = Date.parse('2026-03-01T00:00:00Z');
const AS_OF = '2026-03-11T00:00:00.000Z';

/** Ten a day at noon, for `days` days up to as_of, each its own usage debit. */
async function spendDaily(account: string, perDay: number, days: number, until: number, tag = '') {
  for (let d = 1; d <= days; d++) {
    const r = await debit(h.db.sql, { key: `usage:${account}:${tag}d${d}`, accountId: account, creditType: 'sms',
      amountCredits: perDay, asOf: new Date(until - d * DAY + DAY / 2), metadata: { event_id: `${tag}d${d}` } });
    expect(r.status).toBe('accepted');
  }
}

beforeAll(async () => {
  const { sql } = h.db;
  // fc-plan: on sms-200 (200 a month, no rollover, USD), anchored 1 March, 100 of its 200 spent over ten days.
  await sql`insert into accounts (id, name, time_zone, country) values ('fc-plan', 'fc', 'UTC', 'US')`;
  await sql`insert into subscriptions (id, account_id, plan_id, status, terms)
            values ('fc-sub', 'fc-plan', 'sms-200', 'active', '{}')`;
  await grantCredits(sql, { key: 'fc-sub:period:0:allotment:sms', accountId: 'fc-plan', creditType: 'sms',
    amountCredits: 200, source: 'plan_allotment', effectiveFrom: new Date(ANCHOR),
    expiresAt: new Date('2026-04-01T00:00:00Z'), subscriptionId: 'fc-sub' });
  await spendDaily('fc-plan', 10, 10, Date.parse(AS_OF));

  // fc-agency: 10,000 never-expiring credits; 100 a day for 30 days, half by its shared sub-account.
  await sql`insert into accounts (id, name, time_zone, country) values ('fc-agency', 'a', 'America/New_York', 'US')`;
  await sql`select cf_create_sub_account('fc-agency', 'fc-agency-sub', 's', 'UTC', 'US', true, 'test')`;
  await grantCredits(sql, { key: 'fc-agency-bundle', accountId: 'fc-agency', creditType: 'sms', amountCredits: 10_000,
    source: 'bundle', effectiveFrom: new Date('2026-01-01T00:00:00Z'), expiresAt: null });
  await spendDaily('fc-agency', 50, 30, Date.parse(AS_OF));
  for (let d = 1; d <= 30; d++) {
    await debit(sql, { key: `usage:fc-agency-sub:d${d}`, accountId: 'fc-agency', creditType: 'sms', amountCredits: 50,
      asOf: new Date(Date.parse(AS_OF) - d * DAY + DAY / 2),
      metadata: { event_id: `d${d}`, usage_account_id: 'fc-agency-sub' } });
  }
});

describe('GET /v1/accounts/{id}/forecast', () => {
  it('a plan spent at 10 a day runs out ten days on, and the rest of the period is one 500 SMS bundle', async () => {
    const res = await h.call('GET', `/v1/accounts/fc-plan/forecast?as_of=${AS_OF}`, { key: h.keys.support });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      account_id: 'fc-plan', billing_account_id: 'fc-plan', time_zone: 'UTC', as_of: AS_OF,
      credit_types: [{
        credit_type: 'sms',
        available_credits: 100,
        burn: [{ window_days: 7, spent_credits: 70, credits_per_day: '10.00' },
          { window_days: 30, spent_credits: 100, credits_per_day: '3.33' }],
        projections: [
          // 100 left at 10 a day: gone on 21 March; renewal on 1 April brings 200: gone again 21 April.
          { window_days: 7, runs_out_at: '2026-03-21T00:00:00.000Z', runs_out_on: '2026-03-21', shortfall_credits: 110,
            expiring_unused_credits: 0 },
          // At 100 per 30 days the 21 days to renewal spend 70: 30 lapse (no rollover), and each month's 200
          // outlasts the month.
          { window_days: 30, runs_out_at: null, runs_out_on: null, shortfall_credits: 0, expiring_unused_credits: 30 },
        ],
        basis_window_days: 7,
        runs_out_at: '2026-03-21T00:00:00.000Z',
        runs_out_on: '2026-03-21',
        period_end: '2026-04-01T00:00:00.000Z',
        shortfall_credits: 110,
        suggestion: { bundle_id: 'sms-payg-500', quantity: 1, credits: 500, price_minor: 2500, currency: 'USD' },
      }],
    });
  });

  it('a sub-account on shared billing is forecast on its parent\'s credits and all the usage drawing on them', async () => {
    const sub = await h.call('GET', `/v1/accounts/fc-agency-sub/forecast?as_of=${AS_OF}`, { key: h.keys.billing });
    const parent = await h.call('GET', `/v1/accounts/fc-agency/forecast?as_of=${AS_OF}`, { key: h.keys.billing });
    expect(sub.body.billing_account_id).toBe('fc-agency');
    expect(sub.body.credit_types).toEqual(parent.body.credit_types);
    expect(parent.body.credit_types[0]).toMatchObject({
      available_credits: 7_000,
      burn: [{ window_days: 7, spent_credits: 700, credits_per_day: '100.00' },
        { window_days: 30, spent_credits: 3_000, credits_per_day: '100.00' }],
      runs_out_at: '2026-05-20T00:00:00.000Z',
      // In New York that instant is the evening of 19 May.
      runs_out_on: '2026-05-19',
      // No subscription: the period is the calendar month in New York, ending 1 April 04:00 UTC.
      period_end: '2026-04-01T04:00:00.000Z',
      shortfall_credits: 0,
      suggestion: null,
    });
  });

  it('the activity answers the same in epoch milliseconds, and fails for an unknown account without retries', async () => {
    const acts = createForecastActivities({ sql: h.db.sql, catalog: loadCatalog });
    const f = await acts.computeForecast({ account_id: 'fc-plan', as_of_ms: Date.parse(AS_OF) });
    expect(f.credit_types[0]).toMatchObject({ runs_out_at_ms: Date.parse('2026-03-21T00:00:00Z'), shortfall_credits: 110 });
    const err = await acts.computeForecast({ account_id: 'nobody', as_of_ms: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'unknown_account', nonRetryable: true });
  });

  it('defaults to now, and an account with nothing has nothing to forecast', async () => {
    await h.db.sql`insert into accounts (id, name, time_zone, country) values ('fc-empty', 'e', 'UTC', 'US')`;
    const res = await h.call('GET', '/v1/accounts/fc-empty/forecast', { key: h.keys.ops });
    expect(res.status).toBe(200);
    expect(res.body.credit_types).toEqual([]);
    expect(Math.abs(Date.parse(res.body.as_of) - Date.now())).toBeLessThan(60_000);
  });

  it('rejects a bad as_of (400) and an unknown account (404)', async () => {
    const p = expectProblem(await h.call('GET', '/v1/accounts/fc-plan/forecast?as_of=tomorrow', { key: h.keys.support }),
      400, 'validation_failed');
    expect(p.errors).toEqual([expect.objectContaining({ in: 'query', path: ['as_of'] })]);
    expectProblem(await h.call('GET', '/v1/accounts/-x/forecast', { key: h.keys.support }), 400, 'validation_failed');
    expectProblem(await h.call('GET', '/v1/accounts/nobody/forecast', { key: h.keys.support }), 404, 'not_found');
  });

  it.each([['billing', 200], ['ops', 200], ['support', 200], ['admin', 200], ['ingest', 403]] as const)(
    'as %s → %i', async (role, status) => {
      expect((await h.call('GET', '/v1/accounts/fc-plan/forecast', { key: h.keys[role] })).status).toBe(status);
    });

  it('without a key → 401', async () => {
    expectProblem(await h.call('GET', '/v1/accounts/fc-plan/forecast'), 401, 'unauthenticated');
  });
});
