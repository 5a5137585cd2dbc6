/**
 * (4) One hot account: 64 clients sending single events (1–3 credits; every 20th asks for more credits than exist,
 * so it must be refused) to the same account, against (2) measured in the same run across 1,000 accounts. Then a
 * bounded drain phase spends the account down past zero under the same concurrency, and the ledger is checked to
 * the credit: available == initial − every accepted event's credits, refused events drew nothing, the balance
 * projection equals the sum of the ledger entries.
 */
import type { Sql } from '../src/db/client';
import { idleTemporalClient, seedAccounts, settle, Stack, startDatabase, startShippedApi } from './lib/infra';
import { CLIENTS, cpuCostRatio, measureUsage, perOp } from './lib/measure';
import { elapsedS, main, ratioCheck, round, seconds, stamp, type BenchResult, type Check } from './lib/report';

export const HOT_CLIENTS = 64;
export const HOT_TARGET_RATIO = 0.5;
const HOT_ACCOUNT = 'hot-0000';
const HOT_INITIAL_CREDITS = 50_000_000;

interface LedgerFacts {
  available: number;
  balance_credits: number;
  entries_sum: number;
  debit_entries_sum: number;
  usage_events: number;
  violations: number;
}

async function ledgerFacts(sql: Sql, account: string): Promise<LedgerFacts> {
  const [f] = await sql<LedgerFacts[]>`
    select cf_available(${account}, 'sms', now()) as available,
           (select balance_credits from balances where account_id = ${account} and credit_type = 'sms') as balance_credits,
           (select coalesce(sum(amount_credits), 0)::bigint from ledger_entries where account_id = ${account}) as entries_sum,
           (select coalesce(sum(amount_credits), 0)::bigint from ledger_entries
             where account_id = ${account} and kind = 'debit') as debit_entries_sum,
           (select count(*)::bigint from usage_events where account_id = ${account}) as usage_events,
           (select count(*)::bigint from ledger_violations where account_id = ${account}) as violations`;
  return f!;
}

export async function run(): Promise<BenchResult> {
  const { started_at, t0 } = stamp();
  const stack = new Stack();
  try {
    const db = await startDatabase(stack);
    const api = await startShippedApi(stack, { sql: db.sql, client: await idleTemporalClient(stack) });
    const accounts = await seedAccounts(db.sql, { prefix: 'acc-', count: 1_000, credits: 1_000_000_000 });
    await seedAccounts(db.sql, { prefix: 'hot-', count: 1, credits: HOT_INITIAL_CREDITS });
    await settle(db.sql);

    const spread = await measureUsage(db, api, { accounts, clients: CLIENTS, batch_size: 1, event: { kind: 'sms-text' },
      duration_s: 8 });
    const hot = await measureUsage(db, api, { accounts: [HOT_ACCOUNT], clients: HOT_CLIENTS, batch_size: 1,
      event: { kind: 'credits', min: 1, max: 3, huge_every: 20 }, duration_s: 10 });

    // Drain: events of a fixed size, more of them than the rest can pay for, all at once; the tail must be refused.
    const left = (await ledgerFacts(db.sql, HOT_ACCOUNT)).available;
    const drain_events = 400;
    const drain_credits = Math.ceil(left / (drain_events * 0.75));
    const drain = await measureUsage(db, api, { accounts: [HOT_ACCOUNT], clients: HOT_CLIENTS, batch_size: 1,
      event: { kind: 'credits', min: drain_credits, max: drain_credits }, warmup_s: 0, duration_s: seconds(60) * 4,
      max_requests: drain_events });

    const f = await ledgerFacts(db.sql, HOT_ACCOUNT);
    const accepted_credits = hot.load.total.accepted_credits + drain.load.total.accepted_credits;
    const accepted_events = hot.load.total.accepted + drain.load.total.accepted;
    const expected = HOT_INITIAL_CREDITS - accepted_credits;
    const exact = f.available === expected && f.balance_credits === expected && f.entries_sum === expected
      && f.debit_entries_sum === -accepted_credits && f.usage_events === accepted_events && f.violations === 0
      && f.available >= 0 && f.available < drain_credits;
    const refusedSeen = hot.load.total.refused > 0 && drain.load.total.refused > 0;

    const w = hot.load.window;
    const checks: Check[] = [
      ratioCheck('hot-account events/s', w.ops_per_s, 'events/s', spread.load.window.ops_per_s, HOT_TARGET_RATIO,
        'single events across 1,000 accounts (2)'),
      { name: 'final balance exact (available == initial − accepted credits; ledger sums agree)', value: f.available,
        unit: 'credits', ratio: null, target: `== ${expected}`, pass: exact && refusedSeen },
    ];
    return {
      name: 'hot-account',
      title: `(4) one hot account, ${HOT_CLIENTS} concurrent clients, single events over HTTP`,
      figures: {
        postgres: db.source,
        spread_events_per_s: round(spread.load.window.ops_per_s),
        hot_events_per_s: round(w.ops_per_s),
        cpu_cost_ratio: cpuCostRatio(hot, spread),
        hot_latency_p50_ms: round(w.latency_ms.p50, 2),
        hot_latency_p99_ms: round(w.latency_ms.p99, 2),
        hot_accepted: hot.load.total.accepted,
        hot_refused: hot.load.total.refused,
        drain_event_credits: drain_credits,
        drain_accepted: drain.load.total.accepted,
        drain_refused: drain.load.total.refused,
        initial_credits: HOT_INITIAL_CREDITS,
        accepted_credits,
        expected_available: expected,
        available: f.available,
        balance_projection: f.balance_credits,
        ledger_entries_sum: f.entries_sum,
        debit_entries_sum: f.debit_entries_sum,
        usage_event_rows: f.usage_events,
        accepted_events,
        ledger_violations: f.violations,
        ...perOp(spread, 'spread'),
        ...perOp(hot, 'hot'),
      },
      checks,
      notes: refusedSeen ? [] : ['no refusal was seen in one of the phases: the refusal path went unchecked'],
      started_at,
      elapsed_s: elapsedS(t0),
    };
  } finally {
    await stack.close();
  }
}

if (require.main === module) main(run);
