import type { Sql } from '../db/client';
import type { AccountScope } from './scope';

/**
 * Packages (grants: plan allotments, rollovers, bundles, adjustments) as an account sees them: those of the balance
 * its usage draws on, so a sub-account on shared billing sees its parent's, with how much of each was used, by
 * whom, what lapsed and what is left. Read from the ledger entries of each grant, so amount = used + lapsed + left.
 */

export interface PackageView {
  grant_id: string;
  credit_type: string;
  source: string;
  bundle_id: string | null;
  subscription_id: string | null;
  purchased_by: string | null;
  amount_credits: number;
  /** Drawn by usage and ops corrections. */
  used_credits: number;
  /** Ended unspent: expired or voided. */
  lapsed_credits: number;
  remaining_credits: number;
  effective_from: Date;
  expires_at: Date | null;
  /** Who used it, among the accounts the viewer may see (itself; an agency also its sub-accounts). */
  used_by: { account_id: string; used_credits: number }[];
}

export async function packagesOf(sql: Sql, scope: AccountScope, opts: { as_of: Date; include_ended: boolean }):
  Promise<PackageView[]> {
  return sql<PackageView[]>`
    select g.id as grant_id, g.credit_type, g.source, g.bundle_id, g.subscription_id, g.purchased_by, g.amount_credits,
           coalesce(-sum(e.amount_credits) filter (where e.kind in ('debit', 'adjustment')), 0)::bigint as used_credits,
           coalesce(-sum(e.amount_credits) filter (where e.kind in ('expiry', 'void')), 0)::bigint as lapsed_credits,
           g.remaining_credits, g.effective_from, g.expires_at,
           coalesce((select jsonb_agg(jsonb_build_object('account_id', u.account_id, 'used_credits', u.used)
                                      order by u.account_id)
                     from (select coalesce(x.metadata ->> 'usage_account_id', x.account_id) as account_id,
                                  (-sum(x.amount_credits))::bigint as used
                           from ledger_entries x
                           where x.grant_id = g.id and x.kind in ('debit', 'adjustment')
                           group by 1) u
                     where u.account_id = any(${scope.usage_account_ids})), '[]') as used_by
    from grants g
    left join ledger_entries e on e.grant_id = g.id
    where g.account_id = ${scope.billing_account_id}
      ${opts.include_ended ? sql``
        : sql`and g.remaining_credits > 0 and (g.expires_at is null or g.expires_at > ${opts.as_of})`}
    group by g.id
    order by g.created_at, g.seq`;
}
