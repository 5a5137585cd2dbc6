import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/catalog';
import { createHoldService, type HoldService } from '../../src/holds';
import { balances } from '../../src/ledger';
import { createUsageService, type UsageService } from '../../src/usage';
import { useTestDatabase, type TestDatabase } from '../support/db';
import { availableCredits, noSignalsExpected, seedAccount, testClock, traces } from '../usage/harness';

describe('holds', () => {
  let db: TestDatabase;
  let holds: HoldService;
  let usage: UsageService;
  const clock = testClock();

  beforeAll(async () => {
    db = await useTestDatabase();
    holds = createHoldService({ sql: db.sql, now: clock.now, creditTypes: loadCatalog().credit_types.map((t) => t.id) });
    usage = createUsageService({ sql: db.sql, signaler: noSignalsExpected, graceWindowS: 3600, now: clock.now });
  });

  const reserve = (acc: string, request_id: string, amount_credits: number, ttl_s = 600) =>
    holds.reserve(acc, { request_id, credit_type: 'sms', amount_credits, ttl_s });

  it('a hold makes credits unavailable without spending them', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'reserve', { sms: 100 });
    const h = await reserve(acc, 'send-1', 30);
    expect(h).toMatchObject({ status: 'held', amount_credits: 30, available_after_credits: 70, duplicate: false,
      expires_at: new Date(clock.now().getTime() + 600_000).toISOString() });
    expect(await balances(sql, acc, clock.now())).toMatchObject([
      { credit_type: 'sms', ledger_balance_credits: 100, held_credits: 30, available_credits: 70 }]);
    // Usage cannot draw held credits.
    expect(await usage.ingestOne({ event_id: 'u1', account_id: acc, credit_type: 'sms', amount_credits: 71 }))
      .toMatchObject({ status: 'refused', code: 'insufficient_credits', available_credits: 70 });
    // A retry of the reservation answers the first one.
    expect(await reserve(acc, 'send-1', 30)).toEqual({ ...h, duplicate: true });
    expect(await traces(sql, acc)).toMatchObject({ holds: 1 });
  });

  it('refuses a hold beyond what is available, leaving no trace', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'too-much', { sms: 10 });
    await reserve(acc, 'a', 6);
    const before = await traces(sql, acc);
    expect(await reserve(acc, 'b', 5)).toEqual({ status: 'refused', code: 'insufficient_credits',
      available_credits: 4, requested_credits: 5 });
    expect(await traces(sql, acc)).toEqual(before);
    expect(await holds.reserve('nobody', { request_id: 'x', credit_type: 'sms', amount_credits: 1, ttl_s: 60 }))
      .toEqual({ status: 'refused', code: 'unknown_account' });
    expect(await holds.reserve(acc, { request_id: 'x', credit_type: 'mms', amount_credits: 1, ttl_s: 60 }))
      .toEqual({ status: 'refused', code: 'unknown_credit_type' });
    expect(await traces(sql, acc)).toEqual(before);
  });

  it('commit draws what was used and gives back the rest, once', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'commit', { sms: 100 });
    const h = await reserve(acc, 'c', 30);
    if (h.status !== 'held') throw new Error('setup');
    expect(await holds.commit(h.hold_id, { amount_credits: 31 }))
      .toEqual({ status: 'refused', code: 'hold_exceeded', held_credits: 30 });
    const c = await holds.commit(h.hold_id, { amount_credits: 20, metadata: { message_id: 'm-1' } });
    expect(c).toEqual({ status: 'committed', hold_id: h.hold_id, drawn_credits: 20, released_credits: 10,
      available_after_credits: 80, duplicate: false });
    expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(80);
    const [entry] = await sql`select amount_credits, metadata from ledger_entries where operation_key = ${`hold-commit:${h.hold_id}`}`;
    expect(entry).toEqual({ amount_credits: -20, metadata: { message_id: 'm-1', hold_id: h.hold_id } });

    expect(await holds.commit(h.hold_id, { amount_credits: 20 })).toEqual({ ...c, duplicate: true });
    expect(await holds.commit(h.hold_id, { amount_credits: 5 })).toEqual({ status: 'refused', code: 'idempotency_conflict' });
    expect(await holds.release(h.hold_id)).toEqual({ status: 'refused', code: 'hold_not_active', hold_status: 'committed' });
    expect(await holds.get(h.hold_id)).toMatchObject({ status: 'committed', amount_credits: 30 });
    expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(80);
  });

  it('release gives everything back; a released hold cannot be committed', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'release', { sms: 50 });
    const h = await reserve(acc, 'r', 50);
    if (h.status !== 'held') throw new Error('setup');
    expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(0);
    const r = await holds.release(h.hold_id);
    expect(r).toEqual({ status: 'released', hold_id: h.hold_id, released_credits: 50, duplicate: false });
    expect(await holds.release(h.hold_id)).toEqual({ ...r, duplicate: true });
    expect(await holds.commit(h.hold_id, { amount_credits: 1 }))
      .toEqual({ status: 'refused', code: 'hold_not_active' });
    expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(50);
    // Committing nothing is a release.
    const z = await reserve(acc, 'z', 10);
    if (z.status !== 'held') throw new Error('setup');
    expect(await holds.commit(z.hold_id, { amount_credits: 0 })).toEqual({ status: 'committed', hold_id: z.hold_id,
      drawn_credits: 0, released_credits: 10, available_after_credits: null, duplicate: false });
    expect(await holds.get(z.hold_id)).toMatchObject({ status: 'released' });
    expect(await holds.release('not-a-uuid')).toEqual({ status: 'refused', code: 'hold_not_found' });
    expect(await holds.commit('00000000-0000-7000-8000-000000000000', { amount_credits: 1 }))
      .toEqual({ status: 'refused', code: 'hold_not_found' });
  });

  it('a hold lapses by time alone: no timer, no sweep', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'lapse', { sms: 100 });
    const start = clock.now();
    try {
      const h = await reserve(acc, 'l', 60, 60);
      if (h.status !== 'held') throw new Error('setup');
      clock.advance(59_000);
      expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(40);
      clock.advance(1_000); // expires_at reached: the hold no longer counts
      expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(100);
      expect(await holds.get(h.hold_id)).toMatchObject({ status: 'lapsed', settled_at: null });
      expect(await holds.listForAccount(acc)).toMatchObject([{ hold_id: h.hold_id, status: 'lapsed' }]);
      expect(await usage.ingestOne({ event_id: 'all', account_id: acc, credit_type: 'sms', amount_credits: 100 }))
        .toMatchObject({ status: 'accepted', available_after_credits: 0 });
      expect(await holds.commit(h.hold_id, { amount_credits: 10 })).toEqual({ status: 'refused', code: 'hold_not_active' });
      expect(await holds.release(h.hold_id)).toEqual({ status: 'refused', code: 'hold_not_active', hold_status: 'lapsed' });
    } finally {
      clock.set(start);
    }
  });

  it('parallel reservations never hold more than exists', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'parallel', { sms: 100 });
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => reserve(acc, `p${i}`, 10)));
    expect(results.filter((r) => r.status === 'held')).toHaveLength(10);
    expect(results.filter((r) => r.status === 'refused')).toHaveLength(22);
    expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(0);
    const held = results.flatMap((r) => (r.status === 'held' ? [r.hold_id] : []));
    // Commits and usage racing each other: commits only ever draw their own held credits.
    const settled = await Promise.all([
      ...held.map((id) => holds.commit(id, { amount_credits: 7 })),
      ...Array.from({ length: 10 }, (_, i) => usage.ingestOne({ event_id: `race-${i}`, account_id: acc,
        credit_type: 'sms', amount_credits: 3 })),
    ]);
    expect(settled.slice(0, 10).every((r) => r.status === 'committed')).toBe(true);
    const accepted = settled.slice(10).filter((r) => r.status === 'accepted').length;
    expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(100 - 70 - 3 * accepted);
  });
});
