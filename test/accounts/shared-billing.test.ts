import { beforeAll, describe, expect, it } from 'vitest';
import { billingChanges, createSubAccount, setSharedBilling } from '../../src/accounts/sub-accounts';
import { IdempotencyConflictError } from '../../src/ledger';
import { createUsageService, type UsageResult, type UsageService } from '../../src/usage';
import { useTestDatabase, type TestDatabase } from '../support/db';
import { available, createAgency, createSub, fresh, give, noSignals, T0 } from './harness';

let db: TestDatabase;
let usage: UsageService;

beforeAll(async () => {
  db = await useTestDatabase();
  usage = createUsageService({ sql: db.sql, signaler: noSignals, graceWindowS: 24 * 3600, now: () => T0 });
});

const ev = (account: string, id: string, credits: number, extra: Record<string, unknown> = {}) =>
  ({ event_id: id, account_id: account, credit_type: 'sms', amount_credits: credits, ...extra });
const statuses = (rs: UsageResult[]) => rs.map((r) => (r.status === 'refused' ? r.code : r.status));

describe('a sub-account on shared billing', () => {
  it('draws from its parent\'s credits; its usage stays its own, tagged on the parent\'s ledger entries', async () => {
    const { sql } = db;
    const p = fresh('agency');
    await createAgency(sql, p, { credits: { sms: 1000 } });
    await createSub(sql, p, `${p}-s`, true, { credits: { sms: 50 } });
    const r = await usage.ingestOne(ev(`${p}-s`, 'e1', 30, { list: 'news' }));
    expect(r).toMatchObject({ status: 'accepted', drawn_credits: 30, available_after_credits: 970 });
    expect(await available(sql, p, 'sms')).toBe(970);
    expect(await available(sql, `${p}-s`, 'sms')).toBe(50);

    const [event] = await sql`select account_id, operation_key, list from usage_events where event_id = 'e1'
                              and account_id = ${`${p}-s`}`;
    expect(event).toEqual({ account_id: `${p}-s`, operation_key: `usage:${p}-s:e1`, list: 'news' });
    const entries = await sql`select account_id, kind, amount_credits, metadata from ledger_entries
                              where operation_key = ${`usage:${p}-s:e1`}`;
    expect(entries).toEqual([{ account_id: p, kind: 'debit', amount_credits: -30,
      metadata: expect.objectContaining({ event_id: 'e1', list: 'news', usage_account_id: `${p}-s` }) }]);
    const [op] = await sql`select account_id, kind from operations where idempotency_key = ${`usage:${p}-s:e1`}`;
    expect(op).toEqual({ account_id: p, kind: 'debit' });

    const again = await usage.ingestOne(ev(`${p}-s`, 'e1', 30, { list: 'news' }));
    expect(again).toMatchObject({ status: 'duplicate',
      original: { usage_event_id: (r as { usage_event_id: string }).usage_event_id } });
    expect(await available(sql, p, 'sms')).toBe(970);
  });

  it('shares one pool with its parent and siblings: a batch draws in the order sent and refuses what is short', async () => {
    const { sql } = db;
    const p = fresh('pool');
    await createAgency(sql, p, { credits: { sms: 100 } });
    await createSub(sql, p, `${p}-a`, true);
    await createSub(sql, p, `${p}-b`, true);
    const rs = await usage.ingestBatch([ev(p, 'x', 40), ev(`${p}-a`, 'x', 40), ev(`${p}-b`, 'x', 30), ev(`${p}-a`, 'y', 20)]);
    expect(statuses(rs)).toEqual(['accepted', 'accepted', 'insufficient_credits', 'accepted']);
    expect(rs[2]).toMatchObject({ available_credits: 20, requested_credits: 30 });
    expect(await available(sql, p, 'sms')).toBe(0);
    const byAccount = await sql`select coalesce(metadata ->> 'usage_account_id', account_id) as who,
                                       (-sum(amount_credits))::int as spent
                                from ledger_entries where account_id = ${p} and kind = 'debit' group by 1 order by 1`;
    expect(byAccount).toEqual([{ who: p, spent: 40 }, { who: `${p}-a`, spent: 60 }]);
  });

  it('the single-event function draws from the parent too', async () => {
    const { sql } = db;
    const p = fresh('single');
    await createAgency(sql, p, { credits: { sms: 10 } });
    await createSub(sql, p, `${p}-s`, true);
    const call = (id: string, credits: number) => sql<{ r: Record<string, unknown> }[]>`
      select cf_ingest_usage_one(${`${p}-s`}, ${id}, 'sms', ${credits}, 'v', '{}', ${T0}, ${T0}, null, null, null) as r`;
    expect((await call('one', 7))[0]!.r).toMatchObject({ status: 'accepted', available_after_credits: 3 });
    expect((await call('two', 7))[0]!.r).toMatchObject({ status: 'refused', code: 'insufficient_credits',
      available_credits: 3 });
    expect((await call('one', 7))[0]!.r).toMatchObject({ status: 'duplicate' });
    expect(await available(sql, p, 'sms')).toBe(3);
  });

  it('under concurrency, parent and sub-accounts spend exactly the pool and no more', async () => {
    const { sql } = db;
    const p = fresh('race');
    await createAgency(sql, p, { credits: { sms: 100 } });
    await createSub(sql, p, `${p}-a`, true);
    await createSub(sql, p, `${p}-b`, true);
    const who = [p, `${p}-a`, `${p}-b`];
    const rs = await Promise.all(Array.from({ length: 90 }, (_, i) => usage.ingestOne(ev(who[i % 3]!, `c${i}`, 3))));
    expect(rs.filter((r) => r.status === 'accepted')).toHaveLength(33);
    expect(await available(sql, p, 'sms')).toBe(1);
    const [events] = await sql`select count(*)::int as n from usage_events where account_id = any(${who})`;
    expect(events!.n).toBe(33);
  });
});

describe('a sub-account not on shared billing', () => {
  it('has its own credits only: none of its own is "not enough", whatever its parent has', async () => {
    const { sql } = db;
    const p = fresh('own');
    await createAgency(sql, p, { credits: { sms: 1000 } });
    await createSub(sql, p, `${p}-s`, false);
    expect(await usage.ingestOne(ev(`${p}-s`, 'e', 5))).toMatchObject({ status: 'refused', code: 'insufficient_credits',
      available_credits: 0 });
    await give(sql, `${p}-s`, 'sms', 20);
    expect(await usage.ingestOne(ev(`${p}-s`, 'e', 5))).toMatchObject({ status: 'accepted', available_after_credits: 15 });
    expect(await available(sql, p, 'sms')).toBe(1000);
    const [e] = await sql`select account_id, metadata from ledger_entries where operation_key = ${`usage:${p}-s:e`}`;
    expect(e!.account_id).toBe(`${p}-s`);
    expect(e!.metadata).not.toHaveProperty('usage_account_id');
  });
});

describe('moving in and out of shared billing', () => {
  it('is explicit and audited, and the next event draws from the other balance', async () => {
    const { sql } = db;
    const p = fresh('move');
    await createAgency(sql, p, { credits: { sms: 100 } });
    await createSub(sql, p, `${p}-s`, false, { credits: { sms: 10 } });
    const s = `${p}-s`;
    expect(await usage.ingestOne(ev(s, 'before', 1))).toMatchObject({ available_after_credits: 9 });

    const into = await setSharedBilling(sql, { key: 'k1', account_id: s, shared_billing: true, reason: 'joins the pool', by: 'ops@x' });
    expect(into).toEqual({ status: 'changed', account_id: s, parent_account_id: p, shared_billing: true,
      billing_account_id: p, duplicate: false });
    expect(await usage.ingestOne(ev(s, 'during', 1))).toMatchObject({ available_after_credits: 99 });

    expect(await setSharedBilling(sql, { key: 'k2', account_id: s, shared_billing: true, reason: 'again', by: 'ops@x' }))
      .toEqual({ status: 'refused', code: 'already_shared', duplicate: false });
    // The same key again answers the first result; with another request it is the caller's bug.
    expect(await setSharedBilling(sql, { key: 'k1', account_id: s, shared_billing: true, reason: 'joins the pool', by: 'ops@x' }))
      .toMatchObject({ status: 'changed', duplicate: true });
    await expect(setSharedBilling(sql, { key: 'k1', account_id: s, shared_billing: false, reason: 'leaves', by: 'ops@x' }))
      .rejects.toBeInstanceOf(IdempotencyConflictError);

    expect(await setSharedBilling(sql, { key: 'k3', account_id: s, shared_billing: false, reason: 'own billing', by: 'ops@y' }))
      .toMatchObject({ status: 'changed', shared_billing: false, billing_account_id: s });
    expect(await usage.ingestOne(ev(s, 'after', 1))).toMatchObject({ available_after_credits: 8 });
    expect(await setSharedBilling(sql, { key: 'k4', account_id: s, shared_billing: false, reason: 'x', by: 'ops@y' }))
      .toEqual({ status: 'refused', code: 'not_shared', duplicate: false });

    expect((await billingChanges(sql, s)).map((c) => [c.shared_billing_before, c.shared_billing_after, c.reason, c.changed_by]))
      .toEqual([[null, false, 'created', 'test'], [false, true, 'joins the pool', 'ops@x'], [true, false, 'own billing', 'ops@y']]);
  });

  it('applies to sub-accounts only', async () => {
    const { sql } = db;
    const p = fresh('top');
    await createAgency(sql, p);
    expect(await setSharedBilling(sql, { key: 'kp', account_id: p, shared_billing: true, reason: 'x', by: 't' }))
      .toEqual({ status: 'refused', code: 'not_a_sub_account', duplicate: false });
    expect(await setSharedBilling(sql, { key: 'kn', account_id: 'nobody', shared_billing: true, reason: 'x', by: 't' }))
      .toEqual({ status: 'refused', code: 'not_found', duplicate: false });
    const [ops] = await sql`select count(*)::int as n from operations where idempotency_key in ('kp', 'kn')`;
    expect(ops!.n).toBe(0);
  });
});

describe('creating sub-accounts', () => {
  it('is one level deep, idempotent on the whole request, and refuses an id taken otherwise', async () => {
    const { sql } = db;
    const p = fresh('tree');
    await createAgency(sql, p);
    const base = { parent_account_id: p, id: `${p}-s`, name: 'S', time_zone: 'UTC', country: 'US', shared_billing: true, by: 't' };
    expect(await createSubAccount(sql, base)).toEqual({ status: 'created', account_id: `${p}-s` });
    expect(await createSubAccount(sql, base)).toEqual({ status: 'exists', account_id: `${p}-s` });
    expect(await createSubAccount(sql, { ...base, shared_billing: false })).toMatchObject({ status: 'refused',
      code: 'account_conflict' });
    expect(await createSubAccount(sql, { ...base, parent_account_id: `${p}-s`, id: `${p}-s-s` })).toMatchObject({
      status: 'refused', code: 'not_a_parent' });
    expect(await createSubAccount(sql, { ...base, parent_account_id: 'nobody', id: 'orphan' })).toMatchObject({
      status: 'refused', code: 'not_found' });
    // An existing top-level account cannot be adopted by calling it a sub-account.
    expect(await createSubAccount(sql, { ...base, id: p, name: p })).toMatchObject({ status: 'refused', code: 'account_conflict' });
  });
});
