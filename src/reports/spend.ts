import type { AccountScope } from '../accounts/scope';
import type { Sql } from '../db/client';
import type { Dimension, Granularity, SpendRow, SpendTotal } from './schema';

/**
 * Credits spent over time. "Spent" is what usage drew: the ledger's `debit` entries (usage events and committed
 * holds) and `overage` entries (drawn beyond zero under an overage policy), read straight from the ledger, so a
 * report always adds up to the ledger. Ops corrections (`adjustment`), expiries and voids are not spending.
 * Buckets are calendar days, ISO weeks or months in the account's time zone.
 */

export const DEFAULT_SPAN_MS = 30 * 86_400_000;

export interface SpendFilter {
  from: Date;
  to: Date;
  granularity: Granularity;
  group_by: Dimension[];
  credit_type?: string;
  list?: string;
  sub_account?: string;
}

interface SpendDbRow {
  period: string;
  period_start: Date;
  credit_type: string;
  list: string | null;
  sub_account_id: string | null;
  spent_credits: number;
  events: number;
}

/** `from`/`to` as asked, or the defaults: up to now, over the 30 days before `to`. */
export function resolveRange(q: { from?: string; to?: string }, now: Date): { from: Date; to: Date } {
  const to = q.to === undefined ? now : new Date(q.to);
  const from = q.from === undefined ? new Date(to.getTime() - DEFAULT_SPAN_MS) : new Date(q.from);
  return { from, to };
}

export const parseGroupBy = (text: string): Dimension[] =>
  [...new Set(text.split(',').filter((d): d is Dimension => d === 'list' || d === 'sub_account'))];

/** The spend rows as one query, in report order; `.cursor(n)` it to stream, or await it (with a limit). */
export function spendRowsQuery(sql: Sql, scope: AccountScope, f: SpendFilter, limit?: number) {
  const tz = scope.time_zone;
  const byList = f.group_by.includes('list');
  const bySub = f.group_by.includes('sub_account');
  return sql<SpendDbRow[]>`
    select to_char(b.local_start, 'YYYY-MM-DD') as period, b.local_start at time zone ${tz} as period_start,
           b.credit_type, b.list, b.sub_account_id, b.spent_credits, b.events
    from (
      select date_trunc(${f.granularity}, e.effective_at at time zone ${tz}) as local_start, e.credit_type,
             ${byList ? sql`e.metadata ->> 'list'` : sql`null::text`} as list,
             ${bySub ? sql`coalesce(e.metadata ->> 'usage_account_id', e.account_id)` : sql`null::text`} as sub_account_id,
             (-sum(e.amount_credits))::bigint as spent_credits, count(distinct e.operation_key)::bigint as events
      from ledger_entries e
      where e.account_id = any(${scope.ledger_account_ids}) and e.kind in ('debit', 'overage')
        and e.effective_at >= ${f.from} and e.effective_at < ${f.to}
        and coalesce(e.metadata ->> 'usage_account_id', e.account_id) = any(${scope.usage_account_ids})
        ${f.credit_type === undefined ? sql`` : sql`and e.credit_type = ${f.credit_type}`}
        ${f.list === undefined ? sql`` : sql`and e.metadata ->> 'list' = ${f.list}`}
        ${f.sub_account === undefined ? sql``
          : sql`and coalesce(e.metadata ->> 'usage_account_id', e.account_id) = ${f.sub_account}`}
      group by 1, 2, 3, 4
    ) b
    order by b.local_start, b.credit_type, b.list nulls first, b.sub_account_id nulls first
    ${limit === undefined ? sql`` : sql`limit ${limit}`}`;
}

export const spendRowView = (r: SpendDbRow): SpendRow => ({ ...r, period_start: r.period_start.toISOString() });

/** Adds rows into per-credit-type totals (the export keeps these while it streams). */
export function addToTotals(totals: Map<string, SpendTotal>, row: Pick<SpendRow, 'credit_type' | 'spent_credits' | 'events'>) {
  const t = totals.get(row.credit_type) ?? { credit_type: row.credit_type, spent_credits: 0, events: 0 };
  t.spent_credits += row.spent_credits;
  t.events += row.events;
  totals.set(row.credit_type, t);
}

export const sortedTotals = (totals: Map<string, SpendTotal>): SpendTotal[] =>
  [...totals.values()].sort((a, b) => (a.credit_type < b.credit_type ? -1 : a.credit_type > b.credit_type ? 1 : 0));

export type SpendResult =
  | { status: 'ok'; rows: SpendRow[]; totals: SpendTotal[] }
  | { status: 'too_large'; max_rows: number };

/** The report as one answer, refused as `too_large` past `maxRows` rows (the export streams any size). */
export async function spendReport(sql: Sql, scope: AccountScope, f: SpendFilter, maxRows: number): Promise<SpendResult> {
  const rows = await spendRowsQuery(sql, scope, f, maxRows + 1);
  if (rows.length > maxRows) return { status: 'too_large', max_rows: maxRows };
  // An event's entries share its instant, credit type, list and account, so it is counted in exactly one row.
  const totals = new Map<string, SpendTotal>();
  for (const r of rows) addToTotals(totals, r);
  return { status: 'ok', rows: rows.map(spendRowView), totals: sortedTotals(totals) };
}
