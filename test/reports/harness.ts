import { DateTime } from 'luxon';
import type { Sql } from '../../src/db/client';
import { debit, grantCredits } from '../../src/ledger';

/** Seeds agencies and spending straight through the ledger's functions, and models what reports should say. */

export async function createParent(sql: Sql, id: string, timeZone = 'UTC', country = 'US'): Promise<void> {
  await sql`insert into accounts (id, name, time_zone, country) values (${id}, ${id}, ${timeZone}, ${country})`;
}

export async function createSub(sql: Sql, parent: string, id: string, shared: boolean, timeZone = 'UTC'): Promise<void> {
  const [r] = await sql<{ r: { status: string } }[]>`
    select cf_create_sub_account(${parent}, ${id}, ${id}, ${timeZone}, 'US', ${shared}, 'test') as r`;
  if (r!.r.status !== 'created') throw new Error(`sub-account ${id}: ${JSON.stringify(r!.r)}`);
}

export async function grant(sql: Sql, account: string, creditType: string, amount: number,
  opts: { key?: string; from?: Date; expiresAt?: Date | null; source?: 'bundle' | 'adjustment' | 'plan_allotment' } = {}) {
  return grantCredits(sql, { key: opts.key ?? `g:${account}:${creditType}:${amount}:${Math.random()}`, accountId: account,
    creditType, amountCredits: amount, source: opts.source ?? 'bundle',
    effectiveFrom: opts.from ?? new Date('2025-01-01T00:00:00Z'), expiresAt: opts.expiresAt ?? null });
}

export interface Spend {
  /** Whose usage it is. */
  account: string;
  /** Whose balance it is drawn from (the parent, for a sub-account on shared billing). */
  billing: string;
  credit_type: string;
  list: string | null;
  amount: number;
  at: Date;
  event_id: string;
}

/** Draws a spend as the usage path does: entries on the billing account, tagged with list and usage account. */
export async function spend(sql: Sql, s: Spend): Promise<void> {
  const metadata: Record<string, unknown> = { event_id: s.event_id };
  if (s.list !== null) metadata.list = s.list;
  if (s.billing !== s.account) metadata.usage_account_id = s.account;
  const r = await debit(sql, { key: `usage:${s.account}:${s.event_id}`, accountId: s.billing, creditType: s.credit_type,
    amountCredits: s.amount, asOf: s.at, metadata });
  if (r.status !== 'accepted') throw new Error(`spend ${s.event_id} refused: ${JSON.stringify(r)}`);
}

export type Unit = 'day' | 'week' | 'month';

/** The reference: spends bucketed with luxon in the zone, keyed the way the report groups. */
export function expectedRows(spends: Spend[], opts: { timeZone: string; unit: Unit; byList: boolean; bySub: boolean;
  from: Date; to: Date; filter?: (s: Spend) => boolean }) {
  const rows = new Map<string, { period: string; period_start: string; credit_type: string; list: string | null;
    sub_account_id: string | null; spent_credits: number; events: number }>();
  for (const s of spends) {
    if (s.at < opts.from || s.at >= opts.to || (opts.filter && !opts.filter(s))) continue;
    const start = DateTime.fromJSDate(s.at, { zone: opts.timeZone }).startOf(opts.unit);
    const list = opts.byList ? s.list : null;
    const sub = opts.bySub ? s.account : null;
    const key = JSON.stringify([start.toMillis(), s.credit_type, list, sub]);
    const row = rows.get(key) ?? { period: start.toFormat('yyyy-MM-dd'), period_start: start.toJSDate().toISOString(),
      credit_type: s.credit_type, list, sub_account_id: sub, spent_credits: 0, events: 0 };
    row.spent_credits += s.amount;
    row.events += 1;
    rows.set(key, row);
  }
  const cmp = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1);
  return [...rows.values()].sort((a, b) => cmp(a.period_start, b.period_start) || cmp(a.credit_type, b.credit_type)
    || cmp(a.list, b.list) || cmp(a.sub_account_id, b.sub_account_id));
}

/** What the ledger itself says was spent, by credit type, by the given usage accounts in [from, to). */
export async function ledgerSpent(sql: Sql, usageAccounts: string[], from: Date, to: Date): Promise<Record<string, number>> {
  const rows = await sql<{ credit_type: string; spent: number }[]>`
    select credit_type, (-sum(amount_credits))::bigint as spent from ledger_entries
    where kind in ('debit', 'overage') and effective_at >= ${from} and effective_at < ${to}
      and coalesce(metadata ->> 'usage_account_id', account_id) = any(${usageAccounts})
    group by credit_type`;
  return Object.fromEntries(rows.map((r) => [r.credit_type, r.spent]));
}
