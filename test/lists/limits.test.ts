import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client';
import { listLimits, removeListLimit, setListLimit, type ListPeriod } from '../../src/lists/limits';
import { createUsageService, type UsageResult, type UsageService } from '../../src/usage';
import { available, createAgency, createSub, fresh, noSignals, T0 } from '../accounts/harness';
import { useTestDatabase, type TestDatabase } from '../support/db';

let db: TestDatabase;
let usage: UsageService;
const DAY = 86_400_000;

beforeAll(async () => {
  db = await useTestDatabase();
  // A 35-day grace window, so events can be back-dated into last month.
  usage = createUsageService({ sql: db.sql, signaler: noSignals, graceWindowS: 35 * 86_400, now: () => T0 });
});

let n = 0;
const ev = (account: string, credits: number, list?: string, at?: Date) => ({ event_id: `e${++n}`, account_id: account,
  credit_type: 'sms', amount_credits: credits, ...(list ? { list } : {}), ...(at ? { occurred_at: at.toISOString() } : {}) });
const codes = (rs: UsageResult[]) => rs.map((r) => (r.status === 'refused' ? r.code : r.status));
const limit = (sql: Sql, account: string, list: string, period: ListPeriod, credits: number, as_of = T0) =>
  setListLimit(sql, { account_id: account, credit_type: 'sms', list, period, limit_credits: credits, by: 'test', as_of });

/** What the ledger says the list spent in [from, to): the counters must agree with it. */
async function ledgerSpent(sql: Sql, account: string, list: string, from: Date, to: Date): Promise<number> {
  const [r] = await sql<{ s: number }[]>`select cf_list_spent(${account}, 'sms', ${list}, ${from}, ${to}) as s`;
  return r!.s;
}

describe('a limit in total', () => {
  it('refuses the debit that would pass it, clearly, and writes nothing for it; other lists draw freely', async () => {
    const { sql } = db;
    const acc = fresh('total');
    await createAgency(sql, acc, { credits: { sms: 10_000 } });
    await limit(sql, acc, 'news', 'total', 100);
    const [before] = await sql`select count(*)::int as n from operations where account_id = ${acc}`;
    const rs = await usage.ingestBatch([ev(acc, 60, 'news'), ev(acc, 50, 'news'), ev(acc, 40, 'news'), ev(acc, 1, 'news'),
      ev(acc, 500, 'promo'), ev(acc, 5)]);
    expect(codes(rs)).toEqual(['accepted', 'list_limit_exceeded', 'accepted', 'list_limit_exceeded', 'accepted', 'accepted']);
    expect(rs[1]).toMatchObject({ event_id: expect.any(String), list: 'news', period: 'total', limit_credits: 100,
      spent_credits: 60, remaining_credits: 40, requested_credits: 50,
      message: 'list news may spend 40 more sms credits in total; 50 requested' });
    const [after] = await sql`select count(*)::int as n from operations where account_id = ${acc}`;
    expect(after!.n - before!.n).toBe(4);
    expect(await available(sql, acc, 'sms')).toBe(10_000 - 605);
    expect(await listLimits(sql, acc, T0)).toEqual([expect.objectContaining({ list: 'news', period: 'total',
      limit_credits: 100, spent_credits: 100, remaining_credits: 0, month: null })]);
    expect(await ledgerSpent(sql, acc, 'news', new Date(0), new Date(T0.getTime() + 1))).toBe(100);
  });

  it('raising it keeps what was spent; changing its kind starts afresh; removing it frees the list', async () => {
    const { sql } = db;
    const acc = fresh('change');
    await createAgency(sql, acc, { credits: { sms: 10_000 } });
    expect(await limit(sql, acc, 'l', 'total', 100)).toEqual({ status: 'set', replaced: false });
    expect(codes(await usage.ingestBatch([ev(acc, 100, 'l'), ev(acc, 1, 'l')]))).toEqual(['accepted', 'list_limit_exceeded']);
    expect(await limit(sql, acc, 'l', 'total', 150)).toEqual({ status: 'set', replaced: true });
    expect(codes(await usage.ingestBatch([ev(acc, 50, 'l'), ev(acc, 1, 'l')]))).toEqual(['accepted', 'list_limit_exceeded']);
    await limit(sql, acc, 'l', 'month', 400);
    // 150 were spent this month before the monthly limit: they count against it.
    expect(codes(await usage.ingestBatch([ev(acc, 250, 'l'), ev(acc, 1, 'l')]))).toEqual(['accepted', 'list_limit_exceeded']);
    expect(await removeListLimit(sql, { account_id: acc, credit_type: 'sms', list: 'l', by: 't', as_of: T0 }))
      .toEqual({ status: 'removed' });
    expect(codes(await usage.ingestBatch([ev(acc, 1_000, 'l')]))).toEqual(['accepted']);
    expect(await removeListLimit(sql, { account_id: acc, credit_type: 'sms', list: 'l', by: 't', as_of: T0 }))
      .toEqual({ status: 'refused', code: 'no_limit' });
    const history = await sql`select action, period, limit_credits from list_limit_changes where account_id = ${acc} order by id`;
    expect(history.map((h) => [h.action, h.period, h.limit_credits])).toEqual([
      ['set', 'total', 100], ['set', 'total', 150], ['set', 'month', 400], ['removed', null, null]]);
  });
});

describe('a limit per month', () => {
  it('counts each calendar month of the account\'s zone on its own, back-dated events in theirs', async () => {
    const { sql } = db;
    const acc = fresh('month');
    await createAgency(sql, acc, { timeZone: 'America/Los_Angeles', credits: { sms: 10_000 } });
    await limit(sql, acc, 'news', 'month', 100);
    // 1 March 07:30 UTC is still 28 February in Los Angeles.
    const lateFeb = new Date('2026-03-01T07:30:00Z');
    const rs = await usage.ingestBatch([ev(acc, 90, 'news'), ev(acc, 20, 'news'), ev(acc, 10, 'news'),
      ev(acc, 60, 'news', lateFeb), ev(acc, 50, 'news', lateFeb)]);
    expect(codes(rs)).toEqual(['accepted', 'list_limit_exceeded', 'accepted', 'accepted', 'list_limit_exceeded']);
    expect(rs[1]).toMatchObject({ period: 'month', spent_credits: 90, remaining_credits: 10,
      message: 'list news may spend 10 more sms credits in 2026-03; 20 requested' });
    expect(rs[4]).toMatchObject({ spent_credits: 60, remaining_credits: 40 });
    const months = await sql`select month::text, spent_credits from list_month_spend where account_id = ${acc} order by month`;
    expect(months.map((m) => [m.month, m.spent_credits])).toEqual([['2026-01-01', 0], ['2026-02-01', 60], ['2026-03-01', 100]]);
    expect(await listLimits(sql, acc, T0)).toEqual([expect.objectContaining({ spent_credits: 100, remaining_credits: 0,
      month: '2026-03-01' })]);
  });

  it('set mid-month, it starts from what the list already spent this month, read from the ledger', async () => {
    const { sql } = db;
    const acc = fresh('mid');
    await createAgency(sql, acc, { credits: { sms: 10_000 } });
    await usage.ingestBatch([ev(acc, 70, 'late'), ev(acc, 5, 'other'), ev(acc, 40, 'late', new Date(T0.getTime() - 20 * DAY))]);
    await limit(sql, acc, 'late', 'month', 100);
    expect(codes(await usage.ingestBatch([ev(acc, 31, 'late'), ev(acc, 30, 'late')]))).toEqual(['list_limit_exceeded', 'accepted']);
    expect(codes(await usage.ingestBatch([ev(acc, 60, 'late', new Date(T0.getTime() - 20 * DAY)),
      ev(acc, 61, 'late', new Date(T0.getTime() - 20 * DAY))]))).toEqual(['accepted', 'list_limit_exceeded']);
  });
});

describe('lists of sub-accounts', () => {
  it('a shared sub-account\'s list limit is its own, checked while it draws from its parent', async () => {
    const { sql } = db;
    const p = fresh('agency');
    await createAgency(sql, p, { credits: { sms: 1_000 } });
    await createSub(sql, p, `${p}-s`, true);
    await limit(sql, `${p}-s`, 'news', 'total', 10);
    const rs = await usage.ingestBatch([ev(`${p}-s`, 8, 'news'), ev(`${p}-s`, 3, 'news'), ev(p, 50, 'news'), ev(`${p}-s`, 2, 'news')]);
    expect(codes(rs)).toEqual(['accepted', 'list_limit_exceeded', 'accepted', 'accepted']);
    expect(await available(sql, p, 'sms')).toBe(940);
  });

  it('the single-event function enforces limits the same way', async () => {
    const { sql } = db;
    const acc = fresh('one');
    await createAgency(sql, acc, { credits: { sms: 1_000 } });
    await limit(sql, acc, 'news', 'total', 10);
    const call = async (id: string, credits: number) => (await sql<{ r: Record<string, unknown> }[]>`
      select cf_ingest_usage_one(${acc}, ${id}, 'sms', ${credits}, 'v', '{}', ${T0}, ${T0}, 'news', null, null) as r`)[0]!.r;
    expect(await call('a', 7)).toMatchObject({ status: 'accepted' });
    expect(await call('b', 7)).toMatchObject({ status: 'refused', code: 'list_limit_exceeded', remaining_credits: 3 });
    expect(await call('a', 7)).toMatchObject({ status: 'duplicate' });
    expect(await call('c', 3)).toMatchObject({ status: 'accepted' });
    expect(await listLimits(sql, acc, T0)).toEqual([expect.objectContaining({ spent_credits: 10, remaining_credits: 0 })]);
  });
});

describe('limits under concurrent debits', () => {
  it('a total limit of 100 lets exactly 33 of 120 concurrent 3-credit events through, from any path', async () => {
    const { sql } = db;
    const acc = fresh('hot');
    await createAgency(sql, acc, { credits: { sms: 100_000 } });
    await limit(sql, acc, 'hot', 'total', 100);
    // Group-committed singles (several transactions at once), batches, and the single-event function, all at once.
    const singles = Array.from({ length: 40 }, () => usage.ingestOne(ev(acc, 3, 'hot')));
    const batches = Array.from({ length: 4 }, () => usage.ingestBatch(Array.from({ length: 10 }, () => ev(acc, 3, 'hot'))));
    const direct = Array.from({ length: 40 }, async (_, i) => (await sql<{ r: { status: string } }[]>`
      select cf_ingest_usage_one(${acc}, ${`d${i}`}, 'sms', 3, 'v', '{}', ${T0}, ${T0}, 'hot', null, null) as r`)[0]!.r);
    const free = Array.from({ length: 20 }, () => usage.ingestOne(ev(acc, 3, 'free')));
    const [s, b, d, f] = await Promise.all([Promise.all(singles), Promise.all(batches), Promise.all(direct), Promise.all(free)]);
    const hot = [...s, ...b.flat(), ...d];
    expect(hot.filter((r) => r.status === 'accepted')).toHaveLength(33);
    expect(hot.filter((r) => r.status === 'refused')).toHaveLength(87);
    expect(f.every((r) => r.status === 'accepted')).toBe(true);
    expect(await ledgerSpent(sql, acc, 'hot', new Date(0), new Date(T0.getTime() + 1))).toBe(99);
    expect(await listLimits(sql, acc, T0)).toEqual([expect.objectContaining({ spent_credits: 99, remaining_credits: 1 })]);
  });

  it('a monthly limit holds the same way, and the balance still refuses first when it is the shorter', async () => {
    const { sql } = db;
    const acc = fresh('hotm');
    await createAgency(sql, acc, { credits: { sms: 50 } });
    await limit(sql, acc, 'm', 'month', 70);
    const rs = await Promise.all(Array.from({ length: 60 }, () => usage.ingestOne(ev(acc, 2, 'm'))));
    // The balance (50) runs short before the list's 70: 25 accepted, the rest refused for credits.
    expect(rs.filter((r) => r.status === 'accepted')).toHaveLength(25);
    expect(new Set(rs.filter((r) => r.status === 'refused').map((r) => (r as { code: string }).code)))
      .toEqual(new Set(['insufficient_credits']));
    expect(await listLimits(sql, acc, T0)).toEqual([expect.objectContaining({ spent_credits: 50, remaining_credits: 20 })]);
  });
});
