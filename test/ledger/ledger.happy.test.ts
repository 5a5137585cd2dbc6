import { beforeAll, describe, expect, it } from 'vitest';
import { balances, closeGrant, debit, expireGrant, extendExpiry, grantCredits, IdempotencyConflictError } from '../../src/ledger';
import { createAccount, useTestDatabase, type TestDatabase } from '../support/db';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * 86_400_000);

describe('ledger', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await useTestDatabase();
  });

  it('draws in burn order: priority, soonest expiry, source, age', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-order');
    const bundle = await grantCredits(sql, { key: 'g1', accountId: 'acc-order', creditType: 'sms', amountCredits: 10,
      source: 'bundle', effectiveFrom: T0, expiresAt: null });
    const allot = await grantCredits(sql, { key: 'g2', accountId: 'acc-order', creditType: 'sms', amountCredits: 5,
      source: 'plan_allotment', effectiveFrom: T0, expiresAt: at(30) });
    const r = await debit(sql, { key: 'd1', accountId: 'acc-order', creditType: 'sms', amountCredits: 7, asOf: at(1) });
    expect(r.status).toBe('accepted');
    if (r.status !== 'accepted') return;
    expect(r.entries).toEqual([
      { grant_id: allot.grant_id, amount_credits: 5 },
      { grant_id: bundle.grant_id, amount_credits: 2 },
    ]);
    expect(r.available_after_credits).toBe(8);
  });

  it('never draws expired or not-yet-effective credits, whatever the timers did', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-exp');
    await grantCredits(sql, { key: 'e1', accountId: 'acc-exp', creditType: 'sms', amountCredits: 10,
      source: 'bundle', effectiveFrom: T0, expiresAt: at(10) });
    await grantCredits(sql, { key: 'e2', accountId: 'acc-exp', creditType: 'sms', amountCredits: 10,
      source: 'plan_allotment', effectiveFrom: at(20), expiresAt: at(50) });
    const late = await debit(sql, { key: 'ed1', accountId: 'acc-exp', creditType: 'sms', amountCredits: 1, asOf: at(15) });
    expect(late).toMatchObject({ status: 'refused', code: 'insufficient_credits', available_credits: 0 });
    const [bal] = await balances(sql, 'acc-exp', at(15));
    expect(bal).toMatchObject({ ledger_balance_credits: 20, available_credits: 0 });
  });

  it('is idempotent per key and rejects a key reused for another request', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-idem');
    await grantCredits(sql, { key: 'i1', accountId: 'acc-idem', creditType: 'sms', amountCredits: 10,
      source: 'bundle', effectiveFrom: T0, expiresAt: null });
    const a = await debit(sql, { key: 'id1', accountId: 'acc-idem', creditType: 'sms', amountCredits: 3, asOf: at(1) });
    const b = await debit(sql, { key: 'id1', accountId: 'acc-idem', creditType: 'sms', amountCredits: 3, asOf: at(1) });
    expect(a.duplicate).toBe(false);
    expect(b).toEqual({ ...a, duplicate: true });
    await expect(debit(sql, { key: 'id1', accountId: 'acc-idem', creditType: 'sms', amountCredits: 4, asOf: at(1) }))
      .rejects.toBeInstanceOf(IdempotencyConflictError);
    const [bal] = await balances(sql, 'acc-idem', at(1));
    expect(bal!.available_credits).toBe(7);
  });

  it("a key claimed for one account is a conflict for any other, so no account gets another's answer", async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-own');
    await createAccount(sql, 'acc-other');
    const grant = (accountId: string) => grantCredits(sql, { key: 'own-1', accountId, creditType: 'sms',
      amountCredits: 10, source: 'adjustment', effectiveFrom: T0, expiresAt: null });
    const first = await grant('acc-own');
    await expect(grant('acc-other')).rejects.toBeInstanceOf(IdempotencyConflictError);
    await expect(sql`select cf_claim('own-1', 'acc-other', 'grant', '{}'::jsonb)`)
      .rejects.toMatchObject({ code: 'P0001', message: 'idempotency_conflict' });
    expect(await grant('acc-own')).toEqual({ ...first, duplicate: true });
    expect(await balances(sql, 'acc-other', at(1))).toEqual([]);
  });

  it('a refused debit leaves no trace, so the same event can succeed after a top-up', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-refuse');
    const before = await sql`select count(*)::int as n from operations where account_id = 'acc-refuse'`;
    const r = await debit(sql, { key: 'rf1', accountId: 'acc-refuse', creditType: 'sms', amountCredits: 3, asOf: at(1) });
    expect(r.status).toBe('refused');
    const after = await sql`select count(*)::int as n from operations where account_id = 'acc-refuse'`;
    expect(after[0]!.n).toBe(before[0]!.n);
    await grantCredits(sql, { key: 'rf-top', accountId: 'acc-refuse', creditType: 'sms', amountCredits: 5,
      source: 'adjustment', effectiveFrom: T0, expiresAt: null });
    const again = await debit(sql, { key: 'rf1', accountId: 'acc-refuse', creditType: 'sms', amountCredits: 3, asOf: at(1) });
    expect(again.status).toBe('accepted');
  });

  it('expires only what is due, and an extended grant survives its old expiry', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-ext');
    const g = await grantCredits(sql, { key: 'x1', accountId: 'acc-ext', creditType: 'sms', amountCredits: 10,
      source: 'bundle', effectiveFrom: T0, expiresAt: at(10) });
    expect((await extendExpiry(sql, 'x1-ext', g.grant_id, at(40), at(5))).status).toBe('extended');
    expect((await expireGrant(sql, 'x1-exp-old', g.grant_id, at(10))).status).toBe('not_due');
    const done = await expireGrant(sql, 'x1-exp', g.grant_id, at(40));
    expect(done).toMatchObject({ status: 'expired', expired_credits: 10 });
    const [bal] = await balances(sql, 'acc-ext', at(41));
    expect(bal).toMatchObject({ ledger_balance_credits: 0, available_credits: 0 });
  });

  it('lets overage run the balance below zero only when the policy allows', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-over');
    await grantCredits(sql, { key: 'o1', accountId: 'acc-over', creditType: 'voice_local_min', amountCredits: 10,
      source: 'plan_allotment', effectiveFrom: T0, expiresAt: at(30) });
    await sql`update balances set overage_allowed = true, overage_price_minor_per_credit = 5
              where account_id = 'acc-over' and credit_type = 'voice_local_min'`;
    const r = await debit(sql, { key: 'od1', accountId: 'acc-over', creditType: 'voice_local_min', amountCredits: 14, asOf: at(2) });
    expect(r).toMatchObject({ status: 'accepted', overage_credits: 4, available_after_credits: -4 });
    const g = await sql`select id from grants where operation_key = 'o1'`;
    await closeGrant(sql, 'o1-close', g[0]!.id, at(30), 'expiry');
    const [bal] = await balances(sql, 'acc-over', at(31));
    expect(bal).toMatchObject({ ledger_balance_credits: -4, overage_credits: 4, available_credits: -4 });
  });

  it('recognises a replay sent from a session in another time zone', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-tz');
    await grantCredits(sql, { key: 'tz-g', accountId: 'acc-tz', creditType: 'sms', amountCredits: 10,
      source: 'bundle', effectiveFrom: T0, expiresAt: null });
    const first = await debit(sql, { key: 'tz-d', accountId: 'acc-tz', creditType: 'sms', amountCredits: 2, asOf: at(1) });
    const replay = await sql.begin(async (tx) => {
      await tx`set local timezone = 'America/New_York'`;
      const [row] = await tx`select cf_debit('tz-d', 'acc-tz', 'sms', 2, ${at(1)}, 'debit', null, '{}') as r`;
      return row!.r;
    });
    expect(replay).toEqual({ ...first, duplicate: true });
  });

  it('a refused debit on a credit type never granted creates no balance row', async () => {
    const { sql } = db;
    await createAccount(sql, 'acc-none');
    const r = await debit(sql, { key: 'none-1', accountId: 'acc-none', creditType: 'sms', amountCredits: 1, asOf: at(1) });
    expect(r).toMatchObject({ status: 'refused', code: 'insufficient_credits', available_credits: 0 });
    expect(await sql`select 1 from balances where account_id = 'acc-none'`).toHaveLength(0);
  });
});
