import { beforeAll, describe, expect, it } from 'vitest';
import { createUsageService, purgeUsage, type UsageService } from '../../src/usage';
import { useTestDatabase, type TestDatabase } from '../support/db';
import { availableCredits, noSignalsExpected, seedAccount, testClock } from './harness';

const DAY_MS = 86_400_000;

describe('usage retention', () => {
  let db: TestDatabase;
  let usage: UsageService;
  // The purge guard reads the database clock, so this file lives in real time.
  const realNow = new Date();
  const clock = testClock(realNow);

  beforeAll(async () => {
    db = await useTestDatabase();
    usage = createUsageService({ sql: db.sql, signaler: noSignalsExpected, graceWindowS: 24 * 3600, now: clock.now });
  });

  it('keeps usage at least 35 days, and recognises replays after the purge', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'retention', { sms: 10 });
    const daysAgo = (d: number) => new Date(realNow.getTime() - d * DAY_MS);
    clock.set(daysAgo(40));
    const old = await usage.ingestOne({ event_id: 'old', account_id: acc, credit_type: 'sms', amount_credits: 2 });
    clock.set(realNow);
    await usage.ingestOne({ event_id: 'recent', account_id: acc, credit_type: 'sms', amount_credits: 1 });

    await expect(purgeUsage(sql, daysAgo(34))).rejects.toThrow(/retention_violation/);
    expect(await purgeUsage(sql, daysAgo(35.01))).toBe(1);
    expect((await sql`select event_id from usage_events where account_id = ${acc}`).map((r) => r.event_id)).toEqual(['recent']);

    if (old.status !== 'accepted') throw new Error('setup: the old event was not accepted');
    const { event_id: _id, ...original } = old;
    clock.set(new Date(daysAgo(40).getTime() + 60_000));
    expect(await usage.ingestOne({ event_id: 'old', account_id: acc, credit_type: 'sms', amount_credits: 2,
      occurred_at: daysAgo(40).toISOString() }))
      .toEqual({ status: 'duplicate', event_id: 'old', original: { ...original, detail_purged: true } });
    clock.set(realNow); // stamped now this time: another as_of, still the same event
    expect(await usage.ingestBatch([{ event_id: 'old', account_id: acc, credit_type: 'sms', amount_credits: 2 }]))
      .toMatchObject([{ status: 'duplicate', original: { usage_event_id: original.usage_event_id, drawn_credits: 2 } }]);
    expect(await availableCredits(sql, acc, 'sms', realNow)).toBe(7);
  });
});
