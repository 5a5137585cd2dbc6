import type { Sql } from '../db/client';
import { IdempotencyConflictError } from '../ledger';

/**
 * Agencies and their sub-accounts. The rules are SQL functions in 005_agencies_lists.sql (cf_create_sub_account,
 * cf_set_shared_billing), so that the check and the write happen in one transaction; this is their typed face.
 * Refusals are results, never exceptions.
 */

export type CreateSubAccountResult =
  | { status: 'created' | 'exists'; account_id: string }
  | { status: 'refused'; code: 'not_found' | 'not_a_parent' | 'account_conflict'; message: string };

export interface SubAccountInput {
  parent_account_id: string;
  id: string;
  name: string;
  time_zone: string;
  country: string;
  shared_billing: boolean;
  by: string;
}

export async function createSubAccount(sql: Sql, i: SubAccountInput): Promise<CreateSubAccountResult> {
  const [row] = await sql<{ r: CreateSubAccountResult }[]>`
    select cf_create_sub_account(${i.parent_account_id}, ${i.id}, ${i.name}, ${i.time_zone}, ${i.country},
                                 ${i.shared_billing}, ${i.by}) as r`;
  return row!.r;
}

export type SharedBillingResult =
  | { status: 'changed'; account_id: string; parent_account_id: string; shared_billing: boolean;
      billing_account_id: string; duplicate: boolean }
  | { status: 'refused'; code: 'not_found' | 'not_a_sub_account' | 'already_shared' | 'not_shared'; duplicate: false };

/**
 * Moves a sub-account into or out of shared billing, recorded in account_billing_changes with who and why. `key`
 * makes it happen once: the same key answers the first result; with another request, IdempotencyConflictError.
 */
export async function setSharedBilling(sql: Sql, i: { key: string; account_id: string; shared_billing: boolean;
  reason: string; by: string }): Promise<SharedBillingResult> {
  try {
    const [row] = await sql<{ r: SharedBillingResult }[]>`
      select cf_set_shared_billing(${i.key}, ${i.account_id}, ${i.shared_billing}, ${i.reason}, ${i.by}) as r`;
    return row!.r;
  } catch (err) {
    const e = err as { code?: string; message?: string; detail?: string };
    if (e.code === 'P0001' && e.message === 'idempotency_conflict') throw new IdempotencyConflictError(e.detail ?? e.message);
    throw err;
  }
}

export interface SubAccountView {
  id: string;
  name: string;
  time_zone: string;
  country: string;
  shared_billing: boolean;
  /** Whose credits its usage draws on. */
  billing_account_id: string;
  created_at: Date;
}

export function listSubAccounts(sql: Sql, parent: string): Promise<SubAccountView[]> {
  return sql<SubAccountView[]>`
    select id, name, time_zone, country, shared_billing,
           case when shared_billing then parent_account_id else id end as billing_account_id, created_at
    from accounts where parent_account_id = ${parent} order by id`;
}

export interface BillingChange {
  id: number;
  account_id: string;
  parent_account_id: string;
  shared_billing_before: boolean | null;
  shared_billing_after: boolean;
  reason: string;
  changed_by: string;
  changed_at: Date;
}

/** The audit trail of an account's billing mode (its own, or its sub-accounts' for an agency), oldest first. */
export function billingChanges(sql: Sql, account: string): Promise<BillingChange[]> {
  return sql<BillingChange[]>`
    select id, account_id, parent_account_id, shared_billing_before, shared_billing_after, reason, changed_by, changed_at
    from account_billing_changes where account_id = ${account} or parent_account_id = ${account} order by id`;
}
