import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './infra';

/** One figure a bench is judged by: its value, what it is compared with, and the target. */
export interface Check {
  name: string;
  value: number;
  unit: string;
  /** value ÷ reference, when the target is a ratio. */
  ratio: number | null;
  /** Human form of the target, e.g. "≥ 0.5 × baseline" or "< 1000 ms". */
  target: string;
  pass: boolean;
}

export interface BenchResult {
  name: string;
  title: string;
  /** Every measured figure, flat, for the JSON file and the summary. */
  figures: Record<string, number | string | boolean | null>;
  checks: Check[];
  notes: string[];
  started_at: string;
  elapsed_s: number;
}

export const RESULTS_DIR = join(__dirname, '..', 'results');

/** Shortened runs (BENCH_QUICK=1) for trying the harness out; their figures are not the ones to report. */
export const QUICK = process.env.BENCH_QUICK === '1';

export function seconds(normal_s: number): number {
  return QUICK ? Math.max(2, Math.round(normal_s / 4)) : normal_s;
}

export const round = (v: number, digits = 1) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);

export function ratioCheck(name: string, value: number, unit: string, reference: number, min_ratio: number,
  referenceName: string): Check {
  const ratio = value / reference;
  return { name, value: round(value), unit, ratio: round(ratio, 3), target: `≥ ${min_ratio} × ${referenceName}`,
    pass: ratio >= min_ratio };
}

export function printResult(r: BenchResult): void {
  const say = (line: string) => console.log(`[${r.name}] ${line}`);
  say(`${r.title} (${r.elapsed_s} s)`);
  for (const [k, v] of Object.entries(r.figures)) say(`  ${k.padEnd(36)} ${v}`);
  for (const c of r.checks) {
    const ratio = c.ratio === null ? '' : `  ratio ${c.ratio}`;
    say(`  ${c.pass ? 'PASS' : 'MISS'}  ${c.name}: ${c.value} ${c.unit}${ratio}  (target ${c.target})`);
  }
  for (const n of r.notes) say(`  note: ${n}`);
}

/** Writes results/<name>.json (git-ignored). */
export function saveResult(r: BenchResult, file = `${r.name}.json`): string {
  ensureDir(RESULTS_DIR);
  const path = join(RESULTS_DIR, file);
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
  return path;
}

/**
 * The tail every bench script ends with: run, print, save; when forked by run-all, hand the result over IPC.
 * Exits the process: Temporal's native runtime and pools would otherwise keep it alive.
 */
export function main(run: () => Promise<BenchResult>): void {
  const started = Date.now();
  run().then(
    (r) => {
      printResult(r);
      if (process.send) {
        process.send({ ok: true, result: r }, () => process.exit(0));
      } else {
        console.log(`[${r.name}] written ${saveResult(r)}`);
        process.exit(0);
      }
    },
    (err: unknown) => {
      console.error(`[bench] failed after ${Math.round((Date.now() - started) / 1000)} s:`, err);
      if (process.send) process.send({ ok: false, error: String((err as Error)?.stack ?? err) }, () => process.exit(1));
      else process.exit(1);
    },
  );
}

export function stamp(): { started_at: string; t0: number } {
  return { started_at: new Date().toISOString(), t0: Date.now() };
}

export const elapsedS = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;
