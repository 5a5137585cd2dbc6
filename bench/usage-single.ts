/**
 * (2) Single usage events over HTTP (POST /v1/usage, one event per request) across 1,000 accounts, each holding a
 * grant far larger than the run can draw, so nothing is refused. The API is started exactly as the shipped process
 * starts it (startApiServer); the load comes from a separate process over keep-alive connections. Its own baseline
 * (1) is measured on the same PostgreSQL in the same run, at the same concurrency.
 */
import { idleTemporalClient, seedAccounts, settle, Stack, startDatabase, startShippedApi } from './lib/infra';
import { CLIENTS, cpuCostRatio, measureBaseline, measureUsage, perOp } from './lib/measure';
import { elapsedS, main, ratioCheck, round, stamp, type BenchResult } from './lib/report';

export const ACCOUNTS = 1_000;
export const SINGLE_TARGET_RATIO = 0.5;

export async function run(): Promise<BenchResult> {
  const { started_at, t0 } = stamp();
  const stack = new Stack();
  try {
    const db = await startDatabase(stack);
    const api = await startShippedApi(stack, { sql: db.sql, client: await idleTemporalClient(stack) });
    const accounts = await seedAccounts(db.sql, { prefix: 'acc-', count: ACCOUNTS, credits: 1_000_000_000 });
    await settle(db.sql);

    const base = await measureBaseline(db);
    const single = await measureUsage(db, api, { accounts, clients: CLIENTS, batch_size: 1, event: { kind: 'sms-text' },
      duration_s: 12 });
    const w = single.load.window;
    const t = single.load.total;
    return {
      name: 'usage-single',
      title: `(2) single usage events over HTTP, ${ACCOUNTS} accounts, ${CLIENTS} keep-alive clients`,
      figures: {
        postgres: db.source,
        baseline_tps: round(base.load.window.ops_per_s),
        events_per_s: round(w.ops_per_s),
        latency_p50_ms: round(w.latency_ms.p50, 2),
        latency_p99_ms: round(w.latency_ms.p99, 2),
        cpu_cost_ratio: cpuCostRatio(single, base),
        events_in_window: w.ops,
        accepted: t.accepted,
        refused: t.refused,
        ...perOp(base, 'baseline'),
        ...perOp(single, 'single'),
      },
      checks: [ratioCheck('single events/s', w.ops_per_s, 'events/s', base.load.window.ops_per_s, SINGLE_TARGET_RATIO,
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
