import type { Sql } from '../db/client';

/**
 * Lists' spending limits: the typed face of cf_set_list_limit / cf_remove_list_limit (005) and a read of where each
 * list stands. The limit itself is enforced by the usage path (006), under the balance lock.
 */

export const LIST_PERIODS = ['month', 'total'] as const;
export type ListPeriod = (typeof LIST_PERIODS)[number];

export interface ListLimitInput {
  account_id: string;
  credit_type: string;
  list: string;
  period: ListPeriod;
  limit_credits: number;
  by: string;
  as_of: Date;
}

export async function setListLimit(sql: Sql, i: ListLimitInput): Promise<{ status: 'set'; replaced: boolean }> {
  const [row] = await sql<{ r: { status: 'set'; replaced: boolean } }[]>`
    select cf_set_list_limit(${i.account_id}, ${i.credit_type}, ${i.list}, ${i.period}, ${i.limit_credits}, ${i.by},
                             ${i.as_of}) as r`;
  return row!.r;
}

export async function removeListLimit(sql: Sql, i: { account_id: string; credit_type: string; list: string; by: string;
  as_of: Date }): Promise<{ status: 'removed' } | { status: 'refused'; code: 'no_limit' }> {
  const [row] = await sql<{ r: { status: 'removed' } | { status: 'refused'; code: 'no_limit' } }[]>`
    select cf_remove_list_limit(${i.account_id}, ${i.credit_type}, ${i.list}, ${i.by}, ${i.as_of}) as r`;
  return row!.r;
}

export interface ListLimitView {
  list: string;
  credit_type: string;
  period: ListPeriod;
  limit_credits: number;
  /** 'month': spent in the current month (the account's zone); 'total': since the limit was set. */
  spent_credits: number;
  /** 'total' only: taken from the assignment by expiring packages. */
  expired_credits: number;
  remaining_credits: number;
  /** 'month': the month `spent_credits` is for (YYYY-MM-01); null for 'total'. */
  month: string | null;
  set_by: string;
  set_at: Date;
}

export function listLimits(sql: Sql, account: string, asOf: Date): Promise<ListLimitView[]> {
  return sql<ListLimitView[]>`
    select l.list, l.credit_type, l.period, l.limit_credits,
           case when l.period = 'total' then l.spent_credits else coalesce(m.spent_credits, 0) end as spent_credits,
           case when l.period = 'total' then l.expired_credits else 0 end as expired_credits,
           greatest(l.limit_credits - case when l.period = 'total' then l.spent_credits + l.expired_credits
                                           else coalesce(m.spent_credits, 0) end, 0) as remaining_credits,
           case when l.period = 'month' then to_char(cf_account_month(l.account_id, ${asOf}), 'YYYY-MM-DD') end as month,
           l.set_by, l.set_at
    from list_limits l
    left join list_month_spend m on m.account_id = l.account_id and m.credit_type = l.credit_type and m.list = l.list
      and m.month = cf_account_month(l.account_id, ${asOf}) and l.period = 'month'
    where l.account_id = ${account}
    order by l.list, l.credit_type`;
}

export interface Assignment {
  credit_type: string;
  /** Available in the balance the account draws on. */
  available_credits: number;
  /** What 'total' limits still assign, over every list drawing on that balance (sub-accounts' included). */
  assigned_credits: number;
  /** available − assigned, not below zero: what an expiry takes first. */
  unassigned_credits: number;
}

/** Per credit type of the balance `billing` (the account's own, or its parent's): assigned and unassigned credits. */
export function assignments(sql: Sql, billing: string, asOf: Date): Promise<Assignment[]> {
  return sql<Assignment[]>`
    select b.credit_type, cf_available(b.account_id, b.credit_type, ${asOf}) as available_credits,
           coalesce(a.assigned, 0)::bigint as assigned_credits,
           greatest(cf_available(b.account_id, b.credit_type, ${asOf}) - coalesce(a.assigned, 0), 0)::bigint
             as unassigned_credits
    from balances b
    left join lateral (
      select sum(greatest(l.limit_credits - l.spent_credits - l.expired_credits, 0)) as assigned
      from list_limits l join accounts x on x.id = l.account_id
      where l.credit_type = b.credit_type and l.period = 'total'
        and (l.account_id = b.account_id or (x.parent_account_id = b.account_id and x.shared_billing))
    ) a on true
    where b.account_id = ${billing}
    order by b.credit_type`;
}

export interface ExpiryAllocationRow {
  ledger_entry_id: number;
  expired_at: Date;
  credit_type: string;
  account_id: string;
  list: string | null;
  assigned_before_credits: number | null;
  taken_credits: number;
}

/**
 * What each expiry of the balance `billing` took from unassigned credits (list null) and from the assignments of the
 * lists of `accounts` (a sub-account sees its own lists, not its siblings'), newest first.
 */
export function expiryAllocations(sql: Sql, scope: { billing: string; accounts: readonly string[] }, limit: number):
  Promise<ExpiryAllocationRow[]> {
  return sql<ExpiryAllocationRow[]>`
    select a.ledger_entry_id, e.effective_at as expired_at, a.credit_type, a.account_id, a.list,
           a.assigned_before_credits, a.taken_credits
    from list_expiry_allocations a join ledger_entries e on e.id = a.ledger_entry_id
    where e.account_id = ${scope.billing}
      and (a.list is null or a.account_id = any(${scope.accounts as string[]}))
    order by a.ledger_entry_id desc, a.list nulls first, a.account_id, a.list
    limit ${limit}`;
}
