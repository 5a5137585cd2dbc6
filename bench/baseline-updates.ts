/**
 * (1) Baseline: how many single-row UPDATE transactions per second this PostgreSQL commits, autocommit, at the
 * concurrency the usage benches use. Every other figure is read as a ratio to this one, measured in the same run.
 */
import { Stack, startDatabase } from './lib/infra';
import { CLIENTS, measureBaseline, perOp } from './lib/measure';
import { elapsedS, main, round, stamp, type BenchResult } from './lib/report';

export async function run(): Promise<BenchResult> {
  const { started_at, t0 } = stamp();
  const stack = new Stack();
  try {
    const db = await startDatabase(stack);
    const m = await measureBaseline(db, { duration_s: 10 });
    const w = m.load.window;
    return {
      name: 'baseline-updates',
      title: `(1) raw single-row UPDATE tps, ${CLIENTS} connections, postgres.js, autocommit`,
      figures: {
        postgres: db.source,
        connections: CLIENTS,
        updates: w.ops,
        window_s: round(w.window_ms / 1000, 2),
        baseline_tps: round(w.ops_per_s),
        latency_p50_ms: round(w.latency_ms.p50, 2),
        latency_p99_ms: round(w.latency_ms.p99, 2),
        ...perOp(m, 'baseline'),
      },
      checks: [],
      notes: [],
      started_at,
      elapsed_s: elapsedS(t0),
    };
  } finally {
    await stack.close();
  }
}

if (require.main === module) main(run);
