import { beforeAll, describe, expect, it } from 'vitest';
import { closeGrant, debit } from '../../src/ledger';
import { useApi } from '../support/api';
import { createParent, createSub, expectedRows, grant, ledgerSpent, spend, type Spend, type Unit } from './harness';

const h = useApi();

const TZ = 'America/New_York';
const FROM = new Date('2026-01-15T00:00:00Z');
const TO = new Date('2026-03-25T00:00:00Z');
const spends: Spend[] = [];

/** A small deterministic generator, so the data is the same on every run. */
function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s % n;
  };
}

const q = (params: Record<string, string>) => `?${new URLSearchParams(params)}`;

beforeAll(async () => {
  const { sql } = h.db;
  await createParent(sql, 'agency', TZ);
  await createSub(sql, 'agency', 'agency-shared', true, 'Europe/Rome');
  await createSub(sql, 'agency', 'agency-own', false);
  await createParent(sql, 'stranger', TZ);
  for (const acc of ['agency', 'agency-own', 'stranger']) await grant(sql, acc, 'sms', 1_000_000);
  await grant(sql, 'agency', 'voice_local_min', 50);
  await sql`update balances set overage_allowed = true where account_id = 'agency' and credit_type = 'voice_local_min'`;

  const rnd = prng(7);
  const who = [
    { account: 'agency', billing: 'agency' }, { account: 'agency-shared', billing: 'agency' },
    { account: 'agency-own', billing: 'agency-own' },
  ];
  const lists = ['news', 'promo', null];
  for (let i = 0; i < 240; i++) {
    const w = who[rnd(who.length)]!;
    const voice = w.billing === 'agency' && rnd(5) === 0;
    spends.push({ ...w, credit_type: voice ? 'voice_local_min' : 'sms', list: lists[rnd(3)]!,
      amount: 1 + rnd(40), at: new Date(FROM.getTime() - 3 * 86_400_000 + rnd(72 * 86_400) * 1000 + rnd(1000)),
      event_id: `e${i}` });
  }
  // Late on the last Saturday of February in New York, early Sunday in UTC: a February day, week and month there.
  spends.push({ account: 'agency', billing: 'agency', credit_type: 'sms', list: 'news', amount: 5,
    at: new Date('2026-03-01T04:30:00Z'), event_id: 'edge' });
  for (const s of spends) await spend(sql, s);
  // Another account's usage never shows in the agency's reports.
  await spend(sql, { account: 'stranger', billing: 'stranger', credit_type: 'sms', list: 'news', amount: 9,
    at: new Date('2026-02-01T12:00:00Z'), event_id: 's1' });
  // Not spending: an ops correction, and credits closed by a void.
  await debit(sql, { key: 'ops-fix', accountId: 'agency', creditType: 'sms', amountCredits: 100, kind: 'adjustment',
    asOf: new Date('2026-02-02T12:00:00Z') });
  const g = await grant(sql, 'agency', 'sms', 30, { key: 'to-void', from: new Date('2026-01-20T00:00:00Z') });
  await closeGrant(sql, 'void-it', g.grant_id, new Date('2026-02-03T00:00:00Z'), 'void');
});

describe('GET /v1/accounts/{id}/reports/spend', () => {
  it.each<[Unit, string]>([['day', 'list,sub_account'], ['week', 'list'], ['month', 'sub_account'], ['week', '']])(
    'by %s, grouped by "%s", equals the reference model and adds up to the ledger', async (unit, groupBy) => {
      const res = await h.call('GET', `/v1/accounts/agency/reports/spend${q({ from: FROM.toISOString(),
        to: TO.toISOString(), granularity: unit, group_by: groupBy })}`, { key: h.keys.support });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ account_id: 'agency', time_zone: TZ, granularity: unit,
        from: FROM.toISOString(), to: TO.toISOString() });
      expect(res.body.rows).toEqual(expectedRows(spends, { timeZone: TZ, unit, byList: groupBy.includes('list'),
        bySub: groupBy.includes('sub_account'), from: FROM, to: TO }));
      expect(res.body.rows.length).toBeGreaterThan(unit === 'month' ? 3 : 10);
      const ledger = await ledgerSpent(h.db.sql, ['agency', 'agency-shared', 'agency-own'], FROM, TO);
      expect(Object.fromEntries(res.body.totals.map((t: { credit_type: string; spent_credits: number }) =>
        [t.credit_type, t.spent_credits]))).toEqual(ledger);
    });

  it('puts usage in the account\'s own calendar: 23:30 on Saturday 28 February in New York is February', async () => {
    const at = (unit: Unit) => h.call('GET', `/v1/accounts/agency/reports/spend${q({ from: '2026-03-01T04:00:00Z',
      to: '2026-03-01T05:00:00Z', granularity: unit, list: 'news', sub_account: 'agency' })}`, { key: h.keys.billing });
    const row = { credit_type: 'sms', list: 'news', sub_account_id: 'agency', spent_credits: 5, events: 1 };
    expect((await at('day')).body.rows).toEqual([{ ...row, period: '2026-02-28', period_start: '2026-02-28T05:00:00.000Z' }]);
    expect((await at('week')).body.rows).toEqual([{ ...row, period: '2026-02-23', period_start: '2026-02-23T05:00:00.000Z' }]);
    expect((await at('month')).body.rows).toEqual([{ ...row, period: '2026-02-01', period_start: '2026-02-01T05:00:00.000Z' }]);
  });

  it('a sub-account\'s report is its own usage, in its own zone, though drawn from the parent', async () => {
    const res = await h.call('GET', `/v1/accounts/agency-shared/reports/spend${q({ from: FROM.toISOString(),
      to: TO.toISOString(), granularity: 'month' })}`, { key: h.keys.ops });
    expect(res.status).toBe(200);
    expect(res.body.time_zone).toBe('Europe/Rome');
    expect(res.body.rows).toEqual(expectedRows(spends, { timeZone: 'Europe/Rome', unit: 'month', byList: true, bySub: true,
      from: FROM, to: TO, filter: (s) => s.account === 'agency-shared' }));
    expect(res.body.rows.length).toBeGreaterThan(0);
  });

  it('filters by credit type, list and sub-account', async () => {
    const res = await h.call('GET', `/v1/accounts/agency/reports/spend${q({ from: FROM.toISOString(),
      to: TO.toISOString(), granularity: 'week', credit_type: 'sms', list: 'promo', sub_account: 'agency-own' })}`,
    { key: h.keys.support });
    expect(res.body.rows).toEqual(expectedRows(spends, { timeZone: TZ, unit: 'week', byList: true, bySub: true,
      from: FROM, to: TO,
      filter: (s) => s.credit_type === 'sms' && s.list === 'promo' && s.account === 'agency-own' }));
    expect(res.body.rows.length).toBeGreaterThan(0);
  });

  it('counts overage as spent: the voice credits drawn beyond the 50 granted are in the report', async () => {
    const voice = spends.filter((s) => s.credit_type === 'voice_local_min').reduce((a, s) => a + s.amount, 0);
    expect(voice).toBeGreaterThan(50);
    const res = await h.call('GET', `/v1/accounts/agency/reports/spend${q({ from: '2025-12-01T00:00:00Z',
      to: '2026-04-01T00:00:00Z', granularity: 'month', credit_type: 'voice_local_min', group_by: '' })}`,
    { key: h.keys.support });
    expect(res.body.totals).toEqual([{ credit_type: 'voice_local_min', spent_credits: voice,
      events: spends.filter((s) => s.credit_type === 'voice_local_min').length }]);
  });

  it('defaults to the last 30 days up to now, by day, grouped by list and sub-account', async () => {
    const before = Date.now();
    const res = await h.call('GET', '/v1/accounts/agency/reports/spend', { key: h.keys.support });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ granularity: 'day', group_by: ['list', 'sub_account'], rows: [], totals: [] });
    expect(Date.parse(res.body.to) - Date.parse(res.body.from)).toBe(30 * 86_400_000);
    expect(Date.parse(res.body.to)).toBeGreaterThanOrEqual(before);
  });
});
