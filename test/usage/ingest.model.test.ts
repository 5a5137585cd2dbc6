import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client';
import { grantCredits, type GrantSource } from '../../src/ledger';
import { createAccount, useTestDatabase, type TestDatabase } from '../support/db';
import { T0 } from './harness';

/**
 * cf_ingest_usage applies a batch in memory, per balance, instead of calling cf_debit per event. This file holds it
 * to cf_debit: the same grants, holds and policy, the same events, must give the same answers and the same books;
 * and holds cf_ingest_usage_one (the single-event path) to both.
 */

const HOUR_MS = 3_600_000;
const at = (hours: number) => new Date(T0.getTime() + hours * HOUR_MS);

const Grant = fc.record({
  source: fc.constantFrom<GrantSource>('plan_allotment', 'rollover', 'bundle', 'adjustment'),
  priority: fc.constantFrom(50, 100),
  amount: fc.integer({ min: 1, max: 20 }),
  from_h: fc.integer({ min: -10, max: 2 }),
  life_h: fc.option(fc.integer({ min: 1, max: 20 }), { nil: null }),
});
const Hold = fc.record({ amount: fc.integer({ min: 1, max: 5 }), until_h: fc.integer({ min: -2, max: 5 }) });
const Event = fc.record({
  amount: fc.integer({ min: 1, max: 8 }),
  at_h: fc.integer({ min: -6, max: 0 }),
  again: fc.boolean(), // resend an earlier event instead of a new one
});
const Scenario = fc.record({
  grants: fc.array(Grant, { minLength: 0, maxLength: 5 }),
  holds: fc.array(Hold, { maxLength: 2 }),
  overage: fc.boolean(),
  thresholds: fc.subarray([0, 5, 10, 20]),
  events: fc.array(Event, { minLength: 1, maxLength: 15 }),
});
type Scenario = typeof Scenario extends fc.Arbitrary<infer S> ? S : never;

let run = 0;

async function setUp(sql: Sql, account: string, s: Scenario) {
  await createAccount(sql, account);
  for (const [n, g] of s.grants.entries()) {
    await grantCredits(sql, { key: `${account}:g${n}`, accountId: account, creditType: 'sms', amountCredits: g.amount,
      source: g.source, priority: g.priority, effectiveFrom: at(g.from_h),
      expiresAt: g.life_h === null ? null : at(g.from_h + g.life_h) });
  }
  await sql`insert into balances (account_id, credit_type) values (${account}, 'sms') on conflict do nothing`;
  await sql`update balances set overage_allowed = ${s.overage}, alert_thresholds_credits = ${s.thresholds},
              notify_workflow_id = ${`wf/${account}`} where account_id = ${account} and credit_type = 'sms'`;
  for (const [n, h] of s.holds.entries()) {
    // Holds are taken before the events, at the earliest instant any event can have.
    await sql`select cf_hold(${`${account}:h${n}`}, ${account}, 'sms', ${h.amount}, ${at(h.until_h)}, ${at(-7)})`;
  }
}

/** The events as sent: a resend repeats an earlier event exactly. */
function eventsOf(s: Scenario) {
  const sent: { id: string; amount: number; at: Date }[] = [];
  for (const [n, e] of s.events.entries()) {
    sent.push(e.again && sent.length > 0 ? sent[n % sent.length]! : { id: `e${n}`, amount: e.amount, at: at(e.at_h) });
  }
  return sent;
}

async function books(sql: Sql, account: string) {
  const grants = await sql`select remaining_credits from grants where account_id = ${account} order by operation_key`;
  const [balance] = await sql`select balance_credits, overage_credits from balances where account_id = ${account}`;
  const crossings = await sql`select threshold_credits, available_before, available_after, crossed_at
                              from threshold_crossings where account_id = ${account} order by id`;
  const entries = await sql`select kind, amount_credits, effective_at from ledger_entries
                            where account_id = ${account} and kind in ('debit', 'overage') order by id`;
  return { grants, balance, crossings, entries };
}

describe('usage ingestion against cf_debit', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await useTestDatabase();
  });

  it('a batch, and the same events one by one, draw exactly what cf_debit, event by event, would', async () => {
    const { sql } = db;
    await fc.assert(fc.asyncProperty(Scenario, async (s) => {
      run++;
      const ours = `model-${run}-batch`;
      const reference = `model-${run}-debit`;
      const one = `model-${run}-one`;
      await setUp(sql, ours, s);
      await setUp(sql, reference, s);
      await setUp(sql, one, s);
      const events = eventsOf(s);

      const batch = await sql<{ i: number; result: Record<string, unknown> }[]>`
        select i, result from cf_ingest_usage(${sql.json(events.map((e) => ({ account_id: ours, event_id: e.id,
          credit_type: 'sms', amount_credits: e.amount, rate_card_version: 'v', rating: {}, occurred_at: e.at.toISOString(),
          received_at: T0.toISOString() })) as never)})`;

      const expected: unknown[] = [];
      const accepted = new Set<string>();
      for (const e of events) {
        if (accepted.has(e.id)) {
          expected.push({ status: 'duplicate' });
          continue;
        }
        const [{ r }] = await sql`select cf_debit(${`usage:${reference}:${e.id}`}, ${reference}, 'sms', ${e.amount},
          ${e.at}, 'debit', null, '{}') as r` as unknown as [{ r: Record<string, unknown> }];
        if (r.status === 'accepted') {
          accepted.add(e.id);
          expected.push({ status: 'accepted', drawn_credits: r.drawn_credits, overage_credits: r.overage_credits,
            available_after_credits: r.available_after_credits, thresholds_crossed: r.thresholds_crossed });
        } else {
          expected.push({ status: 'refused', code: r.code, available_credits: r.available_credits });
        }
      }
      expect(batch.map((b) => b.result)).toMatchObject(expected);

      const singles: unknown[] = [];
      for (const e of events) {
        const [{ r }] = await sql`select cf_ingest_usage_one(${one}, ${e.id}, 'sms', ${e.amount}, 'v', '{}', ${e.at},
          ${T0}, null, null, null) as r` as unknown as [{ r: unknown }];
        singles.push(r);
      }
      expect(singles).toMatchObject(expected);
      // The stored answers agree too: what a later replay of each event would get.
      const replayed = await sql`select i, result from cf_ingest_usage(${sql.json(events.map((e) => ({ account_id: ours,
        event_id: e.id, credit_type: 'sms', amount_credits: e.amount, rate_card_version: 'v', rating: {},
        occurred_at: e.at.toISOString(), received_at: T0.toISOString() })) as never)})`;
      // accepted → duplicate; refused → tried again (refused, now with what is left); duplicate → duplicate
      const original = ({ status, code }: { status: string; code?: string }) =>
        status === 'refused' ? { status, code } : { status: 'duplicate' };
      expect(replayed.map((r) => r.result)).toMatchObject(batch.map((b) => original(b.result as never)));
      for (const [n, b] of batch.entries()) {
        const { crossings: _signalled, ...answered } = b.result;
        if (b.result.status === 'accepted') expect(replayed[n]!.result).toEqual({ status: 'duplicate', original: answered });
      }

      const [a, b, c] = [await books(sql, ours), await books(sql, reference), await books(sql, one)];
      expect(a).toEqual(b);
      expect(c).toEqual(b);
    }), { numRuns: 100, seed: 20261122 });
  });
});
