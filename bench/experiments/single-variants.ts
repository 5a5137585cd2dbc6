/**
 * Experiment (not part of run-all): single usage events over HTTP as shipped, and with the changes proposed in the
 * bench report tried out from the outside — without editing src/ — by handing the app a wrapped `sql`:
 *
 *   one        a one-event call goes to cf_ingest_usage_one (003's single-event function) instead of the batch
 *              function cf_ingest_usage, which src/usage/service.ts calls for every event
 *   authcache  the API-key lookup (src/api/auth.ts authenticate, one query per request) answered from a 10 s cache
 *   coalesce   one-event calls arriving together are sent as one cf_ingest_usage call (group commit in the API)
 *
 * Each variant runs against the same database and the same baseline (1), measured first in the same run.
 * Since this was written, src/ took up the API-key cache (src/api/auth.ts) and group commit for single events
 * (src/usage/service.ts): against such a tree `shipped` already has both, and `authcache`/`coalesce` stack on them.
 * `npx tsx bench/experiments/single-variants.ts [variant,...]`; BENCH_POOL sets the application pool size.
 */
import type { Server } from 'node:http';
import { createApp } from '../../src/api/app';
import { bootstrapAdminKey } from '../../src/api/auth';
import type { Sql } from '../../src/db/client';
import { createSubscriptionService } from '../../src/subscriptions/service';
import {
  benchConfig, closeWithin, createKey, freePort, idleTemporalClient, newAdminKey, seedAccounts, settle, Stack,
  startDatabase, type BenchApi,
} from '../lib/infra';
import { CLIENTS, cpuCostRatio, measureBaseline, measureUsage, perOp } from '../lib/measure';
import { elapsedS, main, round, stamp, type BenchResult } from '../lib/report';

type Variant = 'shipped' | 'one' | 'authcache' | 'one+authcache' | 'coalesce+authcache';
const VARIANTS: Variant[] = ['shipped', 'one', 'authcache', 'one+authcache', 'coalesce+authcache'];

interface JsonParam { value: unknown[] }
type Row = Record<string, unknown>;

/** A postgres.js `sql` whose tagged-template calls can be answered differently; everything else passes through. */
function wrapSql(sql: Sql, o: { one: boolean; authCache: boolean; coalesce: boolean }): Sql {
  const authCache = new Map<string, { at: number; rows: unknown }>();
  const AUTH_TTL_MS = 10_000;

  const ingestOne = (r: Row) => sql<{ i: number; result: unknown }[]>`
    select 0 as i, cf_ingest_usage_one(${r.account_id as string}, ${r.event_id as string}, ${r.credit_type as string},
      ${r.amount_credits as number}, ${r.rate_card_version as string}, ${sql.json((r.rating ?? null) as never)},
      ${r.occurred_at as string}, ${r.received_at as string}, ${(r.list ?? null) as string},
      ${sql.json((r.metadata ?? null) as never)}, ${sql.json((r.refusal ?? null) as never)}) as result`;

  // Group commit: calls that arrive while others are queued go out together, up to MAX_ROWS per call.
  const MAX_ROWS = 200;
  const MAX_IN_FLIGHT = Number(process.env.BENCH_COALESCE_IN_FLIGHT ?? 2);
  let queue: { rows: Row[]; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  let inFlight = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    while (queue.length > 0 && inFlight < MAX_IN_FLIGHT) {
      const take: typeof queue = [];
      let n = 0;
      while (queue.length > 0 && n + queue[0]!.rows.length <= MAX_ROWS) {
        const item = queue.shift()!;
        take.push(item);
        n += item.rows.length;
      }
      if (take.length === 0) take.push(queue.shift()!);
      inFlight++;
      const all = take.flatMap((t) => t.rows);
      const call = all.length === 1 && o.one ? ingestOne(all[0]!)
        : sql<{ i: number; result: unknown }[]>`select i, result from cf_ingest_usage(${sql.json(all as never)})`;
      Promise.resolve(call).then((rows) => {
        let offset = 0;
        for (const t of take) {
          const mine = rows.filter((r) => r.i >= offset && r.i < offset + t.rows.length)
            .map((r) => ({ i: r.i - offset, result: r.result }));
          offset += t.rows.length;
          t.resolve(mine);
        }
      }, (err: unknown) => { for (const t of take) t.reject(err); }).finally(() => {
        inFlight--;
        if (queue.length > 0 && !scheduled) { scheduled = true; setImmediate(flush); }
      });
    }
  };

  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const strings = args[0] as TemplateStringsArray | undefined;
      if (Array.isArray(strings) && 'raw' in (strings as object)) {
        const text = strings.join('$');
        if (o.authCache && text.includes('from api_keys where key_sha256 =')) {
          const key = String(args[1]);
          const hit = authCache.get(key);
          if (hit && Date.now() - hit.at < AUTH_TTL_MS) return Promise.resolve(hit.rows);
          return Promise.resolve(Reflect.apply(target, thisArg, args)).then((rows) => {
            authCache.set(key, { at: Date.now(), rows });
            return rows;
          });
        }
        if (text.includes('from cf_ingest_usage(')) {
          const rows = (args[1] as JsonParam).value as Row[];
          if (o.coalesce) {
            return new Promise((resolve, reject) => {
              queue.push({ rows, resolve, reject });
              if (!scheduled) { scheduled = true; setImmediate(flush); }
            });
          }
          if (o.one && rows.length === 1) return ingestOne(rows[0]!);
        }
      }
      return Reflect.apply(target, thisArg, args);
    },
  });
}

async function startVariant(stack: Stack, sql: Sql, variant: Variant): Promise<BenchApi> {
  const wrapped = variant === 'shipped' ? sql : wrapSql(sql, {
    one: variant.includes('one') || variant.includes('coalesce'),
    authCache: variant.includes('authcache'),
    coalesce: variant.includes('coalesce'),
  });
  const adminKey = newAdminKey();
  const config = benchConfig({ adminKey, port: await freePort() });
  await bootstrapAdminKey(sql, config);
  const client = await idleTemporalClient(stack);
  const { loadCatalog } = await import('../../src/catalog/catalog');
  const catalog = loadCatalog();
  const subscriptions = createSubscriptionService({ client, sql, taskQueue: config.TEMPORAL_TASK_QUEUE });
  // As startApiServer builds it, but over the wrapped sql.
  const app = createApp({ sql: wrapped, subscriptions, catalog, config });
  const server: Server = await new Promise((r) => { const s = app.listen(config.API_PORT, '127.0.0.1', () => r(s)); });
  const url = `http://127.0.0.1:${config.API_PORT}`;
  stack.add(`api ${variant}`, () => closeWithin(new Promise((r) => server.close(r)), 3_000));
  return { url, adminKey, ingestKey: await createKey(url, adminKey, 'ingest', `bench-${variant}`), catalog, config };
}

export async function run(): Promise<BenchResult> {
  const { started_at, t0 } = stamp();
  const chosen = (process.argv[2]?.split(',') ?? VARIANTS) as Variant[];
  const stack = new Stack();
  try {
    const db = await startDatabase(stack, { pool_max: Number(process.env.BENCH_POOL ?? 20) });
    const accounts = await seedAccounts(db.sql, { prefix: 'acc-', count: 1_000, credits: 1_000_000_000 });
    await settle(db.sql);
    const base = await measureBaseline(db);
    const figures: BenchResult['figures'] = { baseline_tps: round(base.load.window.ops_per_s),
      pool_max: Number(process.env.BENCH_POOL ?? 20) };
    for (const [k, variant] of chosen.entries()) {
      const vstack = new Stack();
      try {
        const api = await startVariant(vstack, db.sql, variant);
        const m = await measureUsage(db, api, { accounts, clients: CLIENTS, batch_size: 1, event: { kind: 'sms-text' },
          duration_s: 8 });
        const w = m.load.window;
        const per = perOp(m, 'x');
        figures[`${k + 1}. ${variant}`] = `${round(w.ops_per_s)} events/s (ratio ${round(w.ops_per_s / base.load.window.ops_per_s, 3)}), `
          + `p50 ${round(w.latency_ms.p50, 1)} ms, p99 ${round(w.latency_ms.p99, 1)} ms; cpu ms/event api `
          + `${per.x_cpu_ms_per_op_api} pg ${per.x_cpu_ms_per_op_postgres} client ${per.x_cpu_ms_per_op_load_client}; `
          + `cpu-cost ratio ${cpuCostRatio(m, base)}; `
          + `others ${per.x_other_busy_pct}% of machine`;
      } finally {
        await vstack.close();
      }
    }
    return { name: 'single-variants', title: 'experiment: single events over HTTP, shipped and with proposed changes',
      figures, checks: [], notes: [], started_at, elapsed_s: elapsedS(t0) };
  } finally {
    await stack.close();
  }
}

if (require.main === module) main(run);
