import type { Sql } from '../db/client';

/**
 * Where an account's usage is, in the ledger. Usage of an account on its own billing is on its own ledger rows;
 * usage of a sub-account on shared billing is on its parent's rows, tagged `usage_account_id` in the entry's
 * metadata. Reports of an account cover its own usage and its sub-accounts' (one level: agencies and their
 * sub-accounts), wherever it was drawn; forecasts cover the balance the account draws from.
 */
export interface AccountScope {
  account_id: string;
  time_zone: string;
  country: string;
  parent_account_id: string | null;
  shared_billing: boolean;
  /** The account whose balance this account's usage draws from (its parent's on shared billing). */
  billing_account_id: string;
  /** This account and its sub-accounts: the accounts whose usage a report of this account shows. */
  usage_account_ids: string[];
  /** The ledgers that usage can be on: the usage accounts and, for a sub-account, its parent. */
  ledger_account_ids: string[];
}

interface ScopeRow {
  id: string;
  time_zone: string;
  country: string;
  parent_account_id: string | null;
  shared_billing: boolean;
  sub_account_ids: string[];
}

/** The scope of an account, or undefined when there is no such account. */
export async function accountScope(sql: Sql, accountId: string): Promise<AccountScope | undefined> {
  const [row] = await sql<ScopeRow[]>`
    select a.id, a.time_zone, a.country, a.parent_account_id, a.shared_billing,
           coalesce((select array_agg(s.id order by s.id) from accounts s where s.parent_account_id = a.id), '{}')
             as sub_account_ids
    from accounts a where a.id = ${accountId}`;
  if (!row) return undefined;
  const usage = [row.id, ...row.sub_account_ids];
  return {
    account_id: row.id,
    time_zone: row.time_zone,
    country: row.country,
    parent_account_id: row.parent_account_id,
    shared_billing: row.shared_billing,
    billing_account_id: row.shared_billing && row.parent_account_id ? row.parent_account_id : row.id,
    usage_account_ids: usage,
    ledger_account_ids: row.parent_account_id ? [...usage, row.parent_account_id] : usage,
  };
}
