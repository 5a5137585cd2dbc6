import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client';
import { closeGrant, expireGrant } from '../../src/ledger';
import { allocateExpiry, apportion } from '../../src/lists/apportion';
import { listLimits, setListLimit } from '../../src/lists/limits';
import { createUsageService, type UsageService } from '../../src/usage';
import { available, createAgency, createSub, fresh, give, noSignals, T0 } from '../accounts/harness';
import { useTestDatabase, type TestDatabase } from '../support/db';

let db: TestDatabase;
let usage: UsageService;
const E = new Date('2026-03-05T00:00:00Z'); // packages expire here, before T0

beforeAll(async () => {
  db = await useTestDatabase();
  usage = createUsageService({ sql: db.sql, signaler: noSignals, graceWindowS: 24 * 3600, now: () => T0 });
});

const assign = (sql: Sql, account: string, list: string, credits: number) => setListLimit(sql, { account_id: account,
  credit_type: 'sms', list, period: 'total', limit_credits: credits, by: 'test', as_of: new Date('2026-02-01T00:00:00Z') });

/** What the last expiry took: the unassigned part first (list null), then each list. */
async function lastAllocation(sql: Sql, account: string) {
  return sql<{ account_id: string; list: string | null; assigned_before_credits: number | null; taken_credits: number }[]>`
    select account_id, list, assigned_before_credits, taken_credits from list_expiry_allocations
    where ledger_entry_id = (select max(ledger_entry_id) from list_expiry_allocations a
                             join ledger_entries e on e.id = a.ledger_entry_id where e.account_id = ${account})
    order by list nulls first`;
}

describe('expiry with assignments', () => {
  it('takes from unassigned credits first, then from 3 lists in proportion 7:11:13, by largest remainder', async () => {
    const { sql } = db;
    const acc = fresh('awkward');
    await createAgency(sql, acc);
    const pkg = await give(sql, acc, 'sms', 100, { expiresAt: E });
    await give(sql, acc, 'sms', 10);
    await assign(sql, acc, 'a', 7);
    await assign(sql, acc, 'b', 11);
    await assign(sql, acc, 'c', 13);
    // 110 credits, 31 assigned: 79 unassigned. 100 expire: 79 from the unassigned, 21 from the lists.
    // 21 × 7/31 = 4.74, × 11/31 = 7.45, × 13/31 = 8.81: floors 4 + 7 + 8 = 19; the 2 left go to the largest
    // remainders, c (.81) and a (.74): 5, 7, 9.
    expect(await expireGrant(sql, 'exp-1', pkg.grant_id, T0)).toMatchObject({ status: 'expired', expired_credits: 100 });
    expect(await lastAllocation(sql, acc)).toEqual([
      { account_id: acc, list: null, assigned_before_credits: null, taken_credits: 79 },
      { account_id: acc, list: 'a', assigned_before_credits: 7, taken_credits: 5 },
      { account_id: acc, list: 'b', assigned_before_credits: 11, taken_credits: 7 },
      { account_id: acc, list: 'c', assigned_before_credits: 13, taken_credits: 9 },
    ]);
    expect(allocateExpiry({ expired_credits: 100, pool_credits: 110, assigned: [{ list: 'a', assigned_credits: 7 },
      { list: 'b', assigned_credits: 11 }, { list: 'c', assigned_credits: 13 }] })).toEqual({ from_unassigned_credits: 79,
      from_lists: [{ list: 'a', taken_credits: 5 }, { list: 'b', taken_credits: 7 }, { list: 'c', taken_credits: 9 }] });
    expect((await listLimits(sql, acc, T0)).map((l) => [l.list, l.expired_credits, l.remaining_credits]))
      .toEqual([['a', 5, 2], ['b', 7, 4], ['c', 9, 4]]);
    // What is left of an assignment is what the list may still spend.
    const rs = await usage.ingestBatch([{ event_id: 'x', account_id: acc, credit_type: 'sms', amount_credits: 3, list: 'a' },
      { event_id: 'y', account_id: acc, credit_type: 'sms', amount_credits: 2, list: 'a' }]);
    expect(rs.map((r) => (r.status === 'refused' ? r.code : r.status))).toEqual(['list_limit_exceeded', 'accepted']);
    expect(await available(sql, acc, 'sms')).toBe(8);
  });

  it('when unassigned credits cover the expiry, no list loses anything', async () => {
    const { sql } = db;
    const acc = fresh('covered');
    await createAgency(sql, acc);
    const pkg = await give(sql, acc, 'sms', 50, { expiresAt: E });
    await give(sql, acc, 'sms', 100);
    await assign(sql, acc, 'a', 60);
    await expireGrant(sql, 'exp-2', pkg.grant_id, T0);
    expect(await lastAllocation(sql, acc)).toEqual([
      { account_id: acc, list: null, assigned_before_credits: null, taken_credits: 50 },
    ]);
    expect((await listLimits(sql, acc, T0))[0]).toMatchObject({ expired_credits: 0, remaining_credits: 60 });
  });

  it('ties in the remainders go to the larger assignment, then the first list by name', async () => {
    const { sql } = db;
    const acc = fresh('ties');
    await createAgency(sql, acc);
    const pkg = await give(sql, acc, 'sms', 30, { expiresAt: E });
    for (const l of ['c', 'a', 'b']) await assign(sql, acc, l, 10);
    await assign(sql, acc, 'd', 20);
    // Pool 30, assigned 50: nothing unassigned. 30 × 10/50 = 6 each for a, b, c, 12 for d: exact, no remainder.
    await expireGrant(sql, 'exp-3', pkg.grant_id, T0);
    expect((await lastAllocation(sql, acc)).map((r) => r.taken_credits)).toEqual([0, 6, 6, 6, 12]);

    const acc2 = fresh('ties2');
    await createAgency(sql, acc2);
    const pkg2 = await give(sql, acc2, 'sms', 2, { expiresAt: E });
    for (const l of ['c', 'a', 'b']) await assign(sql, acc2, l, 10);
    // 2 × 10/30 = 0.67 each: all floors 0, all remainders equal, equal weights: a and b, by name.
    await expireGrant(sql, 'exp-4', pkg2.grant_id, T0);
    expect((await lastAllocation(sql, acc2)).map((r) => [r.list, r.taken_credits]))
      .toEqual([[null, 0], ['a', 1], ['b', 1], ['c', 0]]);
  });

  it('a shared sub-account\'s assignments share the parent\'s expiries; monthly limits and plan credits do not', async () => {
    const { sql } = db;
    const p = fresh('agency');
    await createAgency(sql, p);
    await createSub(sql, p, `${p}-s`, true);
    const pkg = await give(sql, p, 'sms', 40, { expiresAt: E });
    const plan = await give(sql, p, 'sms', 40, { expiresAt: E, source: 'plan_allotment' });
    await assign(sql, p, 'mine', 30);
    await assign(sql, `${p}-s`, 'theirs', 10);
    await setListLimit(sql, { account_id: p, credit_type: 'sms', list: 'monthly', period: 'month', limit_credits: 99,
      by: 't', as_of: T0 });
    // The plan's own credits end every period: no assignment is touched by that.
    await expireGrant(sql, 'exp-plan', plan.grant_id, T0);
    expect(await lastAllocation(sql, p)).toEqual([]);
    // Pool 40 (the package), assigned 40: 40 taken from 30:10.
    await closeGrant(sql, 'close-pkg', pkg.grant_id, T0, 'expiry');
    expect(await lastAllocation(sql, p)).toEqual([
      { account_id: p, list: null, assigned_before_credits: null, taken_credits: 0 },
      { account_id: p, list: 'mine', assigned_before_credits: 30, taken_credits: 30 },
      { account_id: `${p}-s`, list: 'theirs', assigned_before_credits: 10, taken_credits: 10 },
    ]);
  });

  it('allocation in the database equals the reference on random packages, pools and assignments', async () => {
    const { sql } = db;
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 500 }), fc.integer({ min: 0, max: 500 }),
      fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 }),
      async (expiring, other, weights) => {
        const acc = fresh('prop');
        await createAgency(sql, acc);
        const pkg = await give(sql, acc, 'sms', expiring, { expiresAt: E });
        if (other > 0) await give(sql, acc, 'sms', other);
        const lists = weights.map((_, i) => `l${i}`);
        for (const [i, w] of weights.entries()) await assign(sql, acc, lists[i]!, w);
        await expireGrant(sql, `exp-${acc}`, pkg.grant_id, T0);
        const rows = await lastAllocation(sql, acc);
        const expected = allocateExpiry({ expired_credits: expiring, pool_credits: expiring + other,
          assigned: lists.map((list, i) => ({ list, assigned_credits: weights[i]! })) });
        expect(rows[0]!.taken_credits).toBe(expected.from_unassigned_credits);
        const fromLists = Object.fromEntries(rows.slice(1).map((r) => [r.list, r.taken_credits]));
        for (const l of expected.from_lists) expect(fromLists[l.list] ?? 0).toBe(l.taken_credits);
        expect(rows.reduce((a, r) => a + r.taken_credits, 0)).toBe(expiring);
      }), { numRuns: 25, seed: 20260310 });
  });
});

describe('apportion', () => {
  it('matches cf_apportion on a thousand random cases, and always adds up exactly', async () => {
    const cases = fc.sample(fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 8 })
      .chain((w) => fc.tuple(fc.constant(w), fc.integer({ min: 0, max: w.reduce((a, b) => a + b, 0) }))),
    { numRuns: 1000, seed: 7 });
    const rows = await db.sql<{ shares: number[] }[]>`
      select to_jsonb(cf_apportion((c ->> 0)::bigint, array(select jsonb_array_elements_text(c -> 1)::bigint))) as shares
      from jsonb_array_elements(${db.sql.json(cases.map(([w, t]) => [t, w]) as never)}) with ordinality as x(c, o)
      order by o`;
    cases.forEach(([weights, total], i) => {
      const ts = apportion(total, weights);
      expect(ts.reduce((a, b) => a + b, 0)).toBe(weights.reduce((a, b) => a + b, 0) === 0 ? 0 : total);
      expect(rows[i]!.shares, JSON.stringify({ weights, total })).toEqual(ts);
    });
  });

  it.each([
    [5, [2, 2, 2], [2, 2, 1]], [2, [1, 1, 1], [1, 1, 0]], [21, [7, 11, 13], [5, 7, 9]], [0, [5, 5], [0, 0]],
    [7, [0, 5, 2], [0, 5, 2]], [3, [1, 2], [1, 2]], [1, [1, 2], [0, 1]], [100, [333, 333, 334], [33, 33, 34]],
  ])('apportion(%i, %j) = %j', (total, weights, shares) => {
    expect(apportion(total, weights)).toEqual(shares);
  });

  it('refuses what cannot be split exactly', () => {
    expect(() => apportion(11, [5, 5])).toThrow(RangeError);
    expect(() => apportion(-1, [5])).toThrow(RangeError);
    expect(() => apportion(1.5, [5])).toThrow(RangeError);
  });
});
