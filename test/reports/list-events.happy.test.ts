import { beforeAll, describe, expect, it } from 'vitest';
import { useApi } from '../support/api';
import { createParent, createSub, grant, spend, type Spend } from './harness';

const h = useApi();
const spends: Spend[] = [];
const T = (day: number, ms = 0) => new Date(Date.UTC(2026, 1, day, 12) + ms);

beforeAll(async () => {
  const { sql } = h.db;
  await createParent(sql, 'ag');
  await createSub(sql, 'ag', 'ag-sub', true);
  await grant(sql, 'ag', 'sms', 100_000);
  await grant(sql, 'ag', 'voice_local_min', 10);
  await sql`update balances set overage_allowed = true where account_id = 'ag' and credit_type = 'voice_local_min'`;
  for (let i = 0; i < 25; i++) {
    // Pairs of events at the very same instant: the page cursor must not skip or repeat either.
    spends.push({ account: i % 3 === 0 ? 'ag-sub' : 'ag', billing: 'ag', credit_type: 'sms', list: 'news',
      amount: 1 + (i % 7), at: T(1 + Math.floor(i / 2), 0), event_id: `n${String(i).padStart(2, '0')}` });
  }
  spends.push({ account: 'ag', billing: 'ag', credit_type: 'sms', list: 'promo', amount: 50, at: T(3), event_id: 'p1' });
  spends.push({ account: 'ag', billing: 'ag', credit_type: 'voice_local_min', list: 'news', amount: 15, at: T(20),
    event_id: 'v1' });
  for (const s of spends) await spend(sql, s);
});

const base = '/v1/accounts/ag/reports/list-events';
const range = 'from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z';

describe('GET /v1/accounts/{id}/reports/list-events', () => {
  it('pages through every event of the list, oldest first, each with what it cost', async () => {
    const seen: { event_id: string; spent_credits: number; occurred_at: string; sub_account_id: string }[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const url: string = `${base}?list=news&${range}&limit=4${after ? `&after=${after}` : ''}`;
      const res = await h.call('GET', url, { key: h.keys.support });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.events.length).toBeLessThanOrEqual(4);
      seen.push(...res.body.events);
      after = res.body.next_after;
      if (after === null) break;
    }
    const key = (s: Spend) => `${s.at.toISOString()} usage:${s.account}:${s.event_id}`;
    const news = spends.filter((s) => s.list === 'news').sort((a, b) => (key(a) < key(b) ? -1 : 1));
    expect(seen.map((e) => e.event_id)).toEqual(news.map((s) => s.event_id));
    expect(seen.map((e) => [e.spent_credits, e.occurred_at, e.sub_account_id]))
      .toEqual(news.map((s) => [s.amount, s.at.toISOString(), s.account]));
  });

  it('shows the overage part of an event drawn beyond zero', async () => {
    const res = await h.call('GET', `${base}?list=news&${range}&credit_type=voice_local_min`, { key: h.keys.billing });
    expect(res.body.events).toEqual([expect.objectContaining({ event_id: 'v1', credit_type: 'voice_local_min',
      spent_credits: 15, overage_credits: 5, operation_key: 'usage:ag:v1', detail: null })]);
  });

  it('narrows to one sub-account, and a sub-account sees only its own events', async () => {
    const mine = spends.filter((s) => s.list === 'news' && s.account === 'ag-sub').map((s) => s.event_id);
    const viaParent = await h.call('GET', `${base}?list=news&${range}&sub_account=ag-sub&limit=500`, { key: h.keys.ops });
    expect(viaParent.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(mine);
    const own = await h.call('GET', `/v1/accounts/ag-sub/reports/list-events?list=news&${range}`, { key: h.keys.ops });
    expect(own.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(mine);
  });

  it('answers an empty page for a list with no usage', async () => {
    const res = await h.call('GET', `${base}?list=nothing&${range}`, { key: h.keys.support });
    expect(res.body).toMatchObject({ account_id: 'ag', list: 'nothing', events: [], next_after: null });
  });
});
