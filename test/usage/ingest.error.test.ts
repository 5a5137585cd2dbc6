import { beforeAll, describe, expect, it } from 'vitest';
import { grantCredits } from '../../src/ledger';
import { createRater, loadRateCards, type Rater } from '../../src/rating';
import { createUsageService, type UsageService } from '../../src/usage';
import { useTestDatabase, type TestDatabase } from '../support/db';
import { availableCredits, minutes, noSignalsExpected, seedAccount, T0, testClock, traces } from './harness';

const GRACE_S = 3600;

describe('usage refusals', () => {
  let db: TestDatabase;
  let usage: UsageService;
  const clock = testClock();

  beforeAll(async () => {
    db = await useTestDatabase();
    usage = createUsageService({ sql: db.sql, signaler: noSignalsExpected, graceWindowS: GRACE_S, now: clock.now });
  });

  it('one bad event never spoils the others, and a refused event leaves no trace', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'mixed', { sms: 3 });
    const before = await traces(sql, acc);
    const sms = { to_country: 'US', text: 'hi' };
    const results = await usage.ingestBatch([
      { event_id: 'ok-1', account_id: acc, credit_type: 'sms', sms },
      { event_id: 'bad-shape', account_id: acc, credit_type: 'sms', sms, amount_credits: 1 },
      { event_id: 'ghost', account_id: 'no-such-account', credit_type: 'sms', sms },
      { event_id: 'mms', account_id: acc, credit_type: 'mms', amount_credits: 1 },
      { event_id: 'nk', account_id: acc, credit_type: 'sms', sms: { to_country: 'KP', text: 'hi' } },
      { event_id: 'old', account_id: acc, credit_type: 'sms', sms, occurred_at: new Date(T0.getTime() - minutes(61)).toISOString() },
      { event_id: 'big', account_id: acc, credit_type: 'sms', amount_credits: 3 },
      'not an event',
      { event_id: 'ok-2', account_id: acc, credit_type: 'sms', amount_credits: 2 },
      { event_id: 'ok-1', account_id: acc, credit_type: 'sms', sms },
    ]);
    expect(results.map((r) => (r.status === 'refused' ? r.code : r.status))).toEqual([
      'accepted', 'invalid_event', 'unknown_account', 'unknown_credit_type', 'unrateable', 'timestamp_outside_grace',
      'insufficient_credits', 'invalid_event', 'accepted', 'duplicate',
    ]);
    expect(results.map((r) => r.event_id)).toEqual(
      ['ok-1', 'bad-shape', 'ghost', 'mms', 'nk', 'old', 'big', null, 'ok-2', 'ok-1']);
    expect(results[6]).toMatchObject({ available_credits: 2, requested_credits: 3 });
    const after = await traces(sql, acc);
    // Only the two accepted events wrote anything: one operation, one entry and one usage row each.
    expect(after).toEqual({ ...before, operations: before.operations + 2, ledger_entries: before.ledger_entries + 2,
      usage_events: before.usage_events + 2 });
    expect(await availableCredits(sql, acc, 'sms', T0)).toBe(0);
  });

  it('a refused event can succeed once credits arrive', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'later');
    const event = { event_id: 'e', account_id: acc, credit_type: 'sms', amount_credits: 2 };
    // Never granted anything: refused by either path, and no balance row is made up for it.
    expect(await usage.ingestOne(event)).toMatchObject({ status: 'refused', code: 'insufficient_credits', available_credits: 0 });
    expect(await usage.ingestBatch([event])).toMatchObject([{ status: 'refused', code: 'insufficient_credits',
      available_credits: 0 }]);
    expect(await traces(sql, acc)).toMatchObject({ operations: 0, ledger_entries: 0, usage_events: 0 });
    expect(await sql`select 1 from balances where account_id = ${acc}`).toHaveLength(0);
    await grantCredits(sql, { key: `${acc}:top-up`, accountId: acc, creditType: 'sms', amountCredits: 5,
      source: 'adjustment', effectiveFrom: T0, expiresAt: null });
    expect(await usage.ingestOne(event)).toMatchObject({ status: 'accepted', available_after_credits: 3 });
  });

  it('reports every problem of an invalid event with where it is', async () => {
    const r = await usage.ingestOne({ event_id: '', account_id: 'a', credit_type: 'sms', extra: 1,
      sms: { to_country: 'usa', text: 'x' }, occurred_at: '2026-03-01 12:00' });
    expect(r).toMatchObject({ status: 'refused', code: 'invalid_event', event_id: '' });
    if (r.status !== 'refused') return;
    const paths = r.issues!.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['event_id', 'occurred_at', 'sms.to_country', '']));
    expect(await usage.ingestOne({ event_id: 'x'.repeat(201), account_id: 'a', credit_type: 'sms', amount_credits: 1 }))
      .toMatchObject({ code: 'invalid_event', issues: [{ path: 'event_id' }] });
    expect(await usage.ingestOne({ event_id: 'm', account_id: 'a', credit_type: 'sms', amount_credits: 1,
      metadata: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'x'.repeat(1000)])) }))
      .toMatchObject({ code: 'invalid_event', issues: [{ path: 'metadata' }] });
    expect(await usage.ingestOne({ event_id: 'm', account_id: 'a', credit_type: 'sms', amount_credits: 1,
      metadata: { nested: { no: 1 } } })).toMatchObject({ code: 'invalid_event', issues: [{ path: 'metadata.nested' }] });
    expect(await usage.ingestOne(null)).toMatchObject({ code: 'invalid_event', event_id: null });
  });

  it('accepts events within the grace window and up to 5 minutes ahead, and refuses the rest', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'grace', { sms: 100 });
    const at = (ms: number) => new Date(T0.getTime() + ms).toISOString();
    const results = await usage.ingestBatch([
      { event_id: 'g-edge-old', account_id: acc, credit_type: 'sms', amount_credits: 1, occurred_at: at(-GRACE_S * 1000) },
      { event_id: 'g-too-old', account_id: acc, credit_type: 'sms', amount_credits: 1, occurred_at: at(-GRACE_S * 1000 - 1) },
      { event_id: 'g-edge-new', account_id: acc, credit_type: 'sms', amount_credits: 1, occurred_at: at(minutes(5)) },
      { event_id: 'g-too-new', account_id: acc, credit_type: 'sms', amount_credits: 1, occurred_at: at(minutes(5) + 1) },
      { event_id: 'g-offset', account_id: acc, credit_type: 'sms', amount_credits: 1, occurred_at: '2026-03-01T13:30:00+02:00' },
    ]);
    expect(results.map((r) => r.status === 'refused' ? r.code : r.status))
      .toEqual(['accepted', 'timestamp_outside_grace', 'accepted', 'timestamp_outside_grace', 'accepted']);
    const [row] = await sql`select occurred_at from usage_events where account_id = ${acc} and event_id = 'g-offset'`;
    expect(row!.occurred_at).toEqual(new Date('2026-03-01T11:30:00Z'));
  });

  it('answers a replay as a duplicate even after its grace window has passed', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'late-replay', { sms: 10 });
    const event = { event_id: 'r1', account_id: acc, credit_type: 'sms', amount_credits: 1, occurred_at: T0.toISOString() };
    const first = await usage.ingestOne(event);
    clock.advance(GRACE_S * 1000 + minutes(30));
    try {
      expect(await usage.ingestOne(event)).toMatchObject({ status: 'duplicate', original: { usage_event_id:
        (first as { usage_event_id: string }).usage_event_id } });
      // an event never seen before with the same timestamp is too late
      expect(await usage.ingestOne({ ...event, event_id: 'r2' })).toMatchObject({ code: 'timestamp_outside_grace' });
    } finally {
      clock.set(T0);
    }
  });

  it('refuses a batch beyond 1000 events as a whole', async () => {
    await expect(usage.ingestBatch(Array.from({ length: 1001 }, () => ({})))).rejects.toBeInstanceOf(RangeError);
  });

  it('a single event the database rejects fails alone, never the others written in the same group', async () => {
    const { sql } = db;
    // A rater that, for 13 stated credits, answers an amount no bigint can hold: cf_ingest_usage fails the whole
    // call (22P02) for any write that carries the event.
    const real = createRater(loadRateCards());
    const rater: Rater = {
      cardAt: (at) => real.cardAt(at),
      rate(event, version) {
        const r = real.rate(event, version);
        return r.ok && event.amount_credits === 13 ? { ...r, amount_credits: 1.5 } : r;
      },
    };
    // One write at a time: the first event is written at once, alone; the next two wait and share the next write.
    const grouped = createUsageService({ sql, signaler: noSignalsExpected, graceWindowS: GRACE_S, now: clock.now, rater,
      maxConcurrentWrites: 1 });
    const acc = await seedAccount(sql, 'group-poison', { sms: 100 });
    const event = (event_id: string, amount_credits: number) =>
      ({ event_id, account_id: acc, credit_type: 'sms', amount_credits });
    const [first, poison, good, after] = await Promise.allSettled([
      grouped.ingestOne(event('first', 1)),
      grouped.ingestOne(event('poison', 13)),
      grouped.ingestOne(event('good', 2)),
      grouped.ingestOne(event('after', 3)),
    ]);
    expect(poison).toMatchObject({ status: 'rejected', reason: { code: '22P02' } });
    for (const [r, id] of [[first, 'first'], [good, 'good'], [after, 'after']] as const) {
      expect(r).toMatchObject({ status: 'fulfilled', value: { status: 'accepted', event_id: id } });
    }
    expect(await traces(sql, acc)).toMatchObject({ usage_events: 3 });
    expect(await availableCredits(sql, acc, 'sms', T0)).toBe(100 - 1 - 2 - 3);
    // Nothing of the poison was kept: the event is still new.
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from operations where account_id = ${acc}
      and idempotency_key like '%:poison'`;
    expect(row!.n).toBe(0);
  });
});
