import { beforeAll, describe, expect, it } from 'vitest';
import { grantCredits } from '../../src/ledger';
import { createUsageService, type UsageService } from '../../src/usage';
import { createAccount, useTestDatabase, type TestDatabase } from '../support/db';
import { availableCredits, minutes, noSignalsExpected, seedAccount, T0, testClock, traces } from './harness';

describe('usage ingestion', () => {
  let db: TestDatabase;
  let usage: UsageService;
  const clock = testClock();

  beforeAll(async () => {
    db = await useTestDatabase();
    usage = createUsageService({ sql: db.sql, signaler: noSignalsExpected, graceWindowS: 24 * 3600, now: clock.now });
  });

  it('draws the rated credits as of occurred_at and records the event with its rate card version', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'happy', { sms: 100 });
    const occurredAt = new Date(T0.getTime() - minutes(10));
    const r = await usage.ingestOne({ event_id: 'msg-1', account_id: acc, credit_type: 'sms',
      occurred_at: occurredAt.toISOString(), sms: { to_country: 'JP', text: 'a'.repeat(161) }, list: 'spring-promo',
      metadata: { campaign: 7 } });
    expect(r).toEqual({ status: 'accepted', event_id: 'msg-1', usage_event_id: expect.any(String), drawn_credits: 8,
      overage_credits: 0, available_after_credits: 92, rate_card_version: '2026-01-01', thresholds_crossed: [] });
    if (r.status !== 'accepted') return;

    const [event] = await sql`select * from usage_events where id = ${r.usage_event_id}`;
    expect(event).toMatchObject({ account_id: acc, event_id: 'msg-1', credit_type: 'sms', amount_credits: 8,
      rate_card_version: '2026-01-01', occurred_at: occurredAt, received_at: T0, list: 'spring-promo',
      metadata: { campaign: 7 }, operation_key: `usage:${acc}:msg-1`,
      rating: { method: 'sms_segments', segments: 2, credits_per_segment: 4, encoding: 'gsm7' } });
    const entries = await sql`select kind, amount_credits, effective_at, metadata from ledger_entries
                              where operation_key = ${`usage:${acc}:msg-1`}`;
    expect(entries).toEqual([{ kind: 'debit', amount_credits: -8, effective_at: occurredAt,
      metadata: { usage_event_id: r.usage_event_id, event_id: 'msg-1', rate_card_version: '2026-01-01',
        list: 'spring-promo' } }]);
  });

  it('rates voice per call and takes stated amounts as given', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'voice', { voice_local_min: 100, voice_tollfree_min: 100 });
    const results = await usage.ingestBatch([
      { event_id: 'c1', account_id: acc, credit_type: 'voice_local_min', voice: { duration_s: 61 } },
      { event_id: 'c2', account_id: acc, credit_type: 'voice_tollfree_min', voice: { duration_s: 5, to_country: 'US' } },
      { event_id: 'c3', account_id: acc, credit_type: 'voice_local_min', amount_credits: 10 },
      { event_id: 'c4', account_id: acc, credit_type: 'voice_local_min', voice: { duration_s: 3600 } },
    ]);
    expect(results.map((r) => r.status === 'accepted' && r.drawn_credits)).toEqual([2, 1, 10, 60]);
    expect(await availableCredits(sql, acc, 'voice_local_min', T0)).toBe(28);
    expect(await availableCredits(sql, acc, 'voice_tollfree_min', T0)).toBe(99);
  });

  it('answers a replay with the original result and draws nothing more, whatever the replay says', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'dup', { sms: 10 });
    const event = { event_id: 'dup-1', account_id: acc, credit_type: 'sms', sms: { to_country: 'US', text: 'hello' } };
    const first = await usage.ingestOne(event);
    expect(first.status).toBe('accepted');
    const { event_id: _id, ...original } = first as Extract<typeof first, { status: 'accepted' }>;
    clock.advance(minutes(5)); // a retry without occurred_at is stamped later: still the same event
    expect(await usage.ingestOne(event)).toEqual({ status: 'duplicate', event_id: 'dup-1', original });
    expect(await usage.ingestOne({ ...event, amount_credits: 5, sms: undefined }))
      .toEqual({ status: 'duplicate', event_id: 'dup-1', original });
    expect(await usage.ingestBatch([event])).toEqual([{ status: 'duplicate', event_id: 'dup-1', original }]);
    expect(await availableCredits(sql, acc, 'sms', clock.now())).toBe(9);
    expect(await traces(sql, acc)).toMatchObject({ usage_events: 1, ledger_entries: 2 }); // the grant + one debit
  });

  it('treats the same event id at another account as another event', async () => {
    const { sql } = db;
    const a = await seedAccount(sql, 'twin-a', { sms: 5 });
    const b = await seedAccount(sql, 'twin-b', { sms: 5 });
    const [ra, rb] = await usage.ingestBatch([
      { event_id: 'same', account_id: a, credit_type: 'sms', amount_credits: 1 },
      { event_id: 'same', account_id: b, credit_type: 'sms', amount_credits: 2 },
    ]);
    expect([ra!.status, rb!.status]).toEqual(['accepted', 'accepted']);
    expect(await availableCredits(sql, b, 'sms', clock.now())).toBe(3);
    // Account and event ids that would run together in a naive key stay apart.
    await createAccount(sql, 'x:y');
    await createAccount(sql, 'x');
    for (const id of ['x:y', 'x']) {
      await grantCredits(sql, { key: `colon:${id}`, accountId: id, creditType: 'sms', amountCredits: 5,
        source: 'bundle', effectiveFrom: T0, expiresAt: null });
    }
    const [c1, c2] = await usage.ingestBatch([
      { event_id: 'z', account_id: 'x:y', credit_type: 'sms', amount_credits: 1 },
      { event_id: 'y:z', account_id: 'x', credit_type: 'sms', amount_credits: 1 },
    ]);
    expect([c1!.status, c2!.status]).toEqual(['accepted', 'accepted']);
  });

  it('records overage when the balance allows it', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'over', { voice_local_min: 10 });
    await sql`update balances set overage_allowed = true, overage_price_minor_per_credit = 5
              where account_id = ${acc} and credit_type = 'voice_local_min'`;
    const r = await usage.ingestOne({ event_id: 'long-call', account_id: acc, credit_type: 'voice_local_min',
      voice: { duration_s: 14 * 60 - 30 } });
    expect(r).toMatchObject({ status: 'accepted', drawn_credits: 14, overage_credits: 4, available_after_credits: -4 });
    const [overage] = await sql`select amount_credits from ledger_entries
                                where account_id = ${acc} and kind = 'overage'`;
    expect(overage).toEqual({ amount_credits: -4 });
  });

  it('a back-dated event draws only what was spendable when it occurred', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'backdated');
    const now = clock.now();
    const expiredEarlier = new Date(now.getTime() - minutes(120));
    // Expired two hours ago but not yet swept by any timer: still on the books, no longer spendable.
    await grantCredits(sql, { key: `${acc}:old`, accountId: acc, creditType: 'sms', amountCredits: 50,
      source: 'plan_allotment', effectiveFrom: new Date('2026-01-01T00:00:00Z'), expiresAt: expiredEarlier });
    // Bought an hour ago: not spendable by an event that occurred before that.
    await grantCredits(sql, { key: `${acc}:new`, accountId: acc, creditType: 'sms', amountCredits: 5,
      source: 'bundle', effectiveFrom: new Date(now.getTime() - minutes(60)), expiresAt: null });
    const at = (m: number) => new Date(now.getTime() - minutes(m)).toISOString();
    const [beforeBundle, afterBundle, tooMuch, whileOldLive] = await usage.ingestBatch([
      { event_id: 'b1', account_id: acc, credit_type: 'sms', occurred_at: at(90), amount_credits: 1 },
      { event_id: 'b2', account_id: acc, credit_type: 'sms', occurred_at: at(30), amount_credits: 5 },
      { event_id: 'b3', account_id: acc, credit_type: 'sms', occurred_at: at(20), amount_credits: 1 },
      { event_id: 'b4', account_id: acc, credit_type: 'sms', occurred_at: at(150), amount_credits: 3 },
    ]);
    expect(beforeBundle).toMatchObject({ status: 'refused', code: 'insufficient_credits', available_credits: 0 });
    expect(afterBundle).toMatchObject({ status: 'accepted', drawn_credits: 5, available_after_credits: 0 });
    expect(tooMuch).toMatchObject({ status: 'refused', code: 'insufficient_credits' });
    // Usage that happened while the old grant was live is charged to it, as of when it happened.
    expect(whileOldLive).toMatchObject({ status: 'accepted', available_after_credits: 47 });
    const drawnFrom = await sql`select g.operation_key, e.amount_credits from ledger_entries e join grants g on g.id = e.grant_id
                                where e.account_id = ${acc} and e.kind = 'debit' order by e.id`;
    expect(drawnFrom).toEqual([{ operation_key: `${acc}:new`, amount_credits: -5 },
      { operation_key: `${acc}:old`, amount_credits: -3 }]);
  });
});
