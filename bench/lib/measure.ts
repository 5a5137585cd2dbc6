import { randomBytes } from 'node:crypto';
import { cpuSince, cpuSnapshot, type CpuSnapshot, type CpuUsage } from './cpu';
import type { BenchApi, BenchDatabase } from './infra';
import { runLoad } from './load';
import type { EventShape, HttpUsageResult, PgUpdateResult } from './load-client';
import { round, seconds } from './report';

/** Concurrency of the baseline and of single-event ingestion, so their ratio compares like with like. */
export const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);

export interface Measured<R> {
  load: R;
  /** Server-side CPU over the load client's measured window. */
  cpu: CpuUsage | null;
}

/** Snapshots CPU as the load client opens and closes its window. */
function windowProbe(db: BenchDatabase) {
  let cpu0: CpuSnapshot | null = null;
  let cpu: CpuUsage | null = null;
  return {
    onPhase(p: 'window-start' | 'window-end') {
      if (p === 'window-start') cpu0 = cpuSnapshot(db.dataDir);
      else if (cpu0) cpu = cpuSince(cpu0, db.dataDir);
    },
    async result() {
      return { cpu };
    },
  };
}

/** (1) Raw single-row UPDATE transactions, autocommit, random rows of a 1,000-row table. */
export async function measureBaseline(db: BenchDatabase, o: { clients?: number; duration_s?: number } = {}):
  Promise<Measured<PgUpdateResult>> {
  const probe = windowProbe(db);
  const load = await runLoad({
    kind: 'pg-update', url: db.url, connections: o.clients ?? CLIENTS, rows: 1_000,
    warmup_ms: seconds(2) * 1000, duration_ms: seconds(o.duration_s ?? 8) * 1000, max_ops: 2_000_000,
  }, probe.onPhase);
  if (load.errors > 0) throw new Error(`baseline: ${load.errors} updates failed`);
  return { load, ...(await probe.result()) };
}

export interface UsageLoad {
  accounts: string[];
  clients: number;
  batch_size: number;
  event: EventShape;
  warmup_s?: number;
  duration_s: number;
  max_requests?: number;
}

/** Usage events over HTTP from a separate load-client process. */
export async function measureUsage(db: BenchDatabase, api: BenchApi, o: UsageLoad): Promise<Measured<HttpUsageResult>> {
  const probe = windowProbe(db);
  const load = await runLoad({
    kind: 'http-usage', base_url: api.url, key: api.ingestKey, batch_size: o.batch_size, clients: o.clients,
    accounts: o.accounts, event: o.event, event_prefix: `ev-${randomBytes(4).toString('hex')}`,
    warmup_ms: (o.warmup_s === undefined ? seconds(2) : o.warmup_s) * 1000, duration_ms: seconds(o.duration_s) * 1000,
    max_requests: o.max_requests ?? 5_000_000,
  }, probe.onPhase);
  if (load.total.errors > 0) {
    throw new Error(`usage load: ${load.total.errors} failed requests; first: ${load.total.first_error}`);
  }
  return { load, ...(await probe.result()) };
}

/** CPU ms per operation over API + PostgreSQL + load client: what one operation costs the machine, noise aside. */
export function cpuPerOp(m: Measured<{ window: { ops: number; client_cpu_ms: number } }>): number | null {
  if (!m.cpu || m.cpu.pg_ms === null || m.load.window.ops === 0) return null;
  return round((m.cpu.api_ms + m.cpu.pg_ms + m.load.window.client_cpu_ms) / m.load.window.ops, 3);
}

/**
 * The ratio the two would have on a machine of their own: reference CPU per op ÷ this CPU per op. Others' load on a
 * shared box moves throughput a lot and CPU per op much less, so this steadies the measured ratio's reading.
 */
export function cpuCostRatio(m: Measured<{ window: { ops: number; client_cpu_ms: number } }>,
  reference: Measured<{ window: { ops: number; client_cpu_ms: number } }>): number | null {
  const a = cpuPerOp(m);
  const b = cpuPerOp(reference);
  return a === null || b === null ? null : round(b / a, 3);
}

/** Where the time went, per operation: CPU ms of each tier and database work, for the report. */
export function perOp(m: Measured<{ window: { ops: number; client_cpu_ms: number } }>, prefix: string):
  Record<string, number | null> {
  const ops = m.load.window.ops || 1;
  const per = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? null : round(v / ops, digits));
  const cpu = m.cpu;
  return {
    [`${prefix}_cpu_ms_per_op_api`]: per(cpu?.api_ms),
    [`${prefix}_cpu_ms_per_op_postgres`]: per(cpu?.pg_ms),
    [`${prefix}_cpu_ms_per_op_load_client`]: per(m.load.window.client_cpu_ms),
    [`${prefix}_cpu_ms_per_op_total`]: cpuPerOp(m),
    [`${prefix}_machine_busy_pct`]: cpu?.machine_busy_ms == null || !cpu.machine_capacity_ms ? null
      : round((100 * cpu.machine_busy_ms) / cpu.machine_capacity_ms),
    // Whatever else ran on the machine meanwhile (other sessions, the kernel, Temporal): the noise to read figures by.
    [`${prefix}_other_busy_pct`]: cpu?.machine_busy_ms == null || !cpu.machine_capacity_ms ? null
      : round(Math.max(0, (100 * (cpu.machine_busy_ms - cpu.api_ms - (cpu.pg_ms ?? 0) - m.load.window.client_cpu_ms))
        / cpu.machine_capacity_ms)),
  };
}
