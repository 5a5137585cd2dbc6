import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createUsageService, type UsageResult, type UsageService } from '../../src/usage';
import { useTestDatabase, type TestDatabase } from '../support/db';
import { availableCredits, noSignalsExpected, seedAccount, T0, testClock, traces } from './harness';

const PARALLEL = 64;
const ROUNDS = 5;

const statuses = (rs: UsageResult[]) => {
  const count: Record<string, number> = {};
  for (const r of rs) count[r.status] = (count[r.status] ?? 0) + 1;
  return count;
};

describe('usage under concurrency', () => {
  let db: TestDatabase;
  let usage: UsageService;
  const clock = testClock();

  beforeAll(async () => {
    db = await useTestDatabase();
    usage = createUsageService({ sql: db.sql, signaler: noSignalsExpected, graceWindowS: 24 * 3600, now: clock.now });
  });

  it(`${PARALLEL} parallel single events at one account, ${ROUNDS} rounds, leave the exact balance`, async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'hot', { sms: 100_000 });
    const amounts = fc.sample(fc.integer({ min: 1, max: 9 }), { numRuns: PARALLEL * ROUNDS, seed: 42 });
    for (let round = 0; round < ROUNDS; round++) {
      const results = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => usage.ingestOne({
        event_id: `r${round}-e${i}`, account_id: acc, credit_type: 'sms', amount_credits: amounts[round * PARALLEL + i]!,
      })));
      expect(statuses(results)).toEqual({ accepted: PARALLEL });
    }
    const total = amounts.reduce((a, b) => a + b, 0);
    expect(await availableCredits(sql, acc, 'sms', T0)).toBe(100_000 - total);
    expect(await traces(sql, acc)).toMatchObject({ usage_events: PARALLEL * ROUNDS });
  });

  it('when credits run short, exactly what exists is drawn and the rest refused', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'short', { sms: 100 });
    const results = await Promise.all(Array.from({ length: PARALLEL * 3 }, (_, i) => usage.ingestOne({
      event_id: `s${i}`, account_id: acc, credit_type: 'sms', sms: { to_country: 'US', text: `message ${i}` },
    })));
    expect(statuses(results)).toEqual({ accepted: 100, refused: PARALLEL * 3 - 100 });
    expect(await availableCredits(sql, acc, 'sms', T0)).toBe(0);
    expect(await traces(sql, acc)).toMatchObject({ usage_events: 100, ledger_entries: 101 });
  });

  it('twins of one event sent at once are accepted exactly once, even when their timestamps differ', async () => {
    const { sql } = db;
    const acc = await seedAccount(sql, 'twins', { sms: 1000 });
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => usage.ingestOne({
      event_id: 'the-one', account_id: acc, credit_type: 'sms', amount_credits: 7,
      occurred_at: new Date(T0.getTime() - (i % 3) * 1000).toISOString(),
    })));
    expect(statuses(results)).toEqual({ accepted: 1, duplicate: 23 });
    const accepted = results.find((r) => r.status === 'accepted')!;
    for (const r of results) {
      if (r.status === 'duplicate') expect(r.original.usage_event_id).toBe((accepted as { usage_event_id: string }).usage_event_id);
    }
    expect(await availableCredits(sql, acc, 'sms', T0)).toBe(993);
  });

  it('batches crossing the same accounts in opposite orders neither deadlock nor lose a credit', async () => {
    const { sql } = db;
    const a = await seedAccount(sql, 'xa', { sms: 10_000 });
    const b = await seedAccount(sql, 'xb', { sms: 10_000 });
    const batch = (n: number, first: string, second: string) => Array.from({ length: 50 }, (_, i) => ({
      event_id: `bx${n}-${i}`, account_id: i % 2 === 0 ? first : second, credit_type: 'sms', amount_credits: 1,
    }));
    const batches = await Promise.all(Array.from({ length: 16 }, (_, n) =>
      usage.ingestBatch(n % 2 === 0 ? batch(n, a, b) : batch(n, b, a))));
    expect(statuses(batches.flat())).toEqual({ accepted: 800 });
    expect(await availableCredits(sql, a, 'sms', T0)).toBe(9_600);
    expect(await availableCredits(sql, b, 'sms', T0)).toBe(9_600);
  });
});
