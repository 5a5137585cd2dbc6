/**
 * (3) Batched ingestion over HTTP: POST /v1/usage/batch with 100 events per request, across 1,000 accounts with
 * credits to spare, against its own baseline (1) measured on the same PostgreSQL in the same run.
 */
import { idleTemporalClient, seedAccounts, settle, Stack, startDatabase, startShippedApi } from './lib/infra';
import { cpuCostRatio, measureBaseline, measureUsage, perOp } from './lib/measure';
import { elapsedS, main, ratioCheck, round, stamp, type BenchResult } from './lib/report';

export const BATCH_SIZE = 100;
/** Batching producers are few: a handful of senders each posting big batches (BENCH_BATCH_CLIENTS overrides). */
export const BATCH_CLIENTS = Number(process.env.BENCH_BATCH_CLIENTS ?? 2);
export const BATCH_TARGET_RATIO = 10;

export async function run(): Promise<BenchResult> {
  const { started_at, t0 } = stamp();
  const stack = new Stack();
  try {
    const db = await startDatabase(stack);
    const api = await startShippedApi(stack, { sql: db.sql, client: await idleTemporalClient(stack) });
    const accounts = await seedAccounts(db.sql, { prefix: 'acc-', count: 1_000, credits: 1_000_000_000 });
    await settle(db.sql);

    const base = await measureBaseline(db);
    const batch = await measureUsage(db, api, { accounts, clients: BATCH_CLIENTS, batch_size: BATCH_SIZE,
      event: { kind: 'sms-text' }, duration_s: 10 });
    const w = batch.load.window;
    const t = batch.load.total;
    return {
      name: 'usage-batch',
      title: `(3) batched usage over HTTP, ${BATCH_SIZE} events per request, ${BATCH_CLIENTS} clients, 1,000 accounts`,
      figures: {
        postgres: db.source,
        baseline_tps: round(base.load.window.ops_per_s),
        events_per_s: round(w.ops_per_s),
        requests_per_s: round(w.requests_per_s),
        request_p50_ms: round(w.latency_ms.p50, 1),
        request_p99_ms: round(w.latency_ms.p99, 1),
        cpu_cost_ratio: cpuCostRatio(batch, base),
        events_in_window: w.ops,
        accepted: t.accepted,
        refused: t.refused,
        ...perOp(base, 'baseline'),
        ...perOp(batch, 'batch'),
      },
      checks: [ratioCheck('batched events/s', w.ops_per_s, 'events/s', base.load.window.ops_per_s, BATCH_TARGET_RATIO,
        'baseline (1)')],
      notes: t.refused > 0 ? [`${t.refused} events were refused; every account should have had credits enough`] : [],
      started_at,
      elapsed_s: elapsedS(t0),
    };
  } finally {
    await stack.close();
  }
}

if (require.main === module) main(run);
