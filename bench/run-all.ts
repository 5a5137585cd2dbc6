/**
 * `npm run bench`: the five benches in order, each in a process of its own (its own PostgreSQL, Temporal and API,
 * torn down before the next starts), then a summary table, written to bench/results/latest.json as well.
 */
import { fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { QUICK, RESULTS_DIR, saveResult, type BenchResult } from './lib/report';

const BENCHES = ['baseline-updates', 'usage-single', 'usage-batch', 'hot-account', 'threshold-repurchase'] as const;
/** A bench still running after this long is killed and reported as failed: the whole run stays bounded. */
const BENCH_LIMIT_MS = 240_000;

type Outcome = { name: string; ok: true; result: BenchResult } | { name: string; ok: false; error: string };

function runBench(name: string): Promise<Outcome> {
  return new Promise((resolveRun) => {
    const child = fork(join(__dirname, `${name}.ts`), [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let outcome: Outcome | null = null;
    const timer = setTimeout(() => {
      outcome ??= { name, ok: false, error: `killed after ${BENCH_LIMIT_MS / 1000} s` };
      child.kill('SIGKILL');
    }, BENCH_LIMIT_MS);
    child.on('message', (m: { ok: true; result: BenchResult } | { ok: false; error: string }) => {
      outcome = m.ok ? { name, ok: true, result: m.result } : { name, ok: false, error: m.error };
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun(outcome ?? { name, ok: false, error: `exited with ${code} and no result` });
    });
  });
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const started = Date.now();
  const started_at = new Date().toISOString();
  const load_before = loadavg();
  const outcomes: Outcome[] = [];
  for (const name of BENCHES) {
    console.log(`\n=== ${name} ===`);
    outcomes.push(await runBench(name));
  }

  const rows: string[][] = [['bench', 'figure', 'value', 'ratio', 'target', 'verdict']];
  for (const o of outcomes) {
    if (!o.ok) {
      rows.push([o.name, 'FAILED', o.error.split('\n')[0]!.slice(0, 80), '', '', 'FAIL']);
      continue;
    }
    const f = o.result.figures;
    if (o.name === 'baseline-updates') {
      rows.push([o.name, 'UPDATE tps', String(f.baseline_tps), '', '(reference)', '']);
    }
    if (o.name === 'usage-single') {
      rows.push([o.name, 'p50 / p99 latency', `${f.latency_p50_ms} / ${f.latency_p99_ms} ms`, '', '', '']);
    }
    for (const c of o.result.checks) {
      rows.push([o.name, c.name, `${c.value} ${c.unit}`, c.ratio === null ? '' : String(c.ratio), c.target,
        c.pass ? 'PASS' : 'MISS']);
    }
    if (o.name !== 'baseline-updates' && typeof f.baseline_tps === 'number') {
      rows.push([o.name, '  its own baseline (1)', `${f.baseline_tps} tps`, '', '', '']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.min(70, Math.max(...rows.map((r) => r[i]!.length))));
  console.log(`\n=== summary (${Math.round((Date.now() - started) / 1000)} s${QUICK ? ', BENCH_QUICK' : ''}) ===`);
  for (const r of rows) console.log(r.map((cell, i) => pad(cell, widths[i]!)).join('  '));

  const latest = {
    name: 'latest',
    title: 'npm run bench',
    started_at,
    elapsed_s: Math.round((Date.now() - started) / 1000),
    quick: QUICK,
    machine: { cores: cpus().length, loadavg_before: load_before, loadavg_after: loadavg() },
    benches: outcomes,
  };
  const path = saveResult(latest as unknown as BenchResult, 'latest.json');
  console.log(`written ${path} (results dir ${RESULTS_DIR})`);
  process.exit(outcomes.every((o) => o.ok) ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
