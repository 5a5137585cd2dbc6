import { ApplicationFailure } from '@temporalio/common';
import { DateTime } from 'luxon';
import { addCalendarDuration, periodBounds, periodIndexAt } from '../calendar';
import type { Catalog, Plan } from '../catalog/schema';
import type { Sql } from '../db/client';
import { forecast, type BundleOption, type CreditForecast, type ForecastLot, type ScheduledRenewal } from './forecast';

/**
 * The forecast of an account, read from the ledger and the subscriptions table at `as_of_ms`: the balance its usage
 * draws from (its parent's, for a sub-account on shared billing), burn over the trailing windows, the scheduled
 * expiries of its grants and the renewals of its active subscriptions (from the catalog's plans), and the bundles
 * it may buy. Read-only, so safe to retry; as an activity, give it the workflow's time as `as_of_ms`.
 */

export const WINDOWS_DAYS = [7, 30] as const;
/** How far ahead the run-out instant is looked for. */
export const HORIZON_DAYS = 366;
const DAY_MS = 86_400_000;

export interface ForecastDeps {
  sql: Sql;
  /** Read at call time, like the activities' catalog, so a reload reaches the next forecast. */
  catalog: () => Catalog;
}

export interface AccountForecast {
  account_id: string;
  /** Whose credits these are: the account's own, or its parent's on shared billing. */
  billing_account_id: string;
  time_zone: string;
  as_of_ms: number;
  credit_types: CreditForecast[];
}

interface AccountRow { id: string; time_zone: string; country: string; billing_account_id: string }
interface GrantRow {
  credit_type: string; remaining_credits: number; effective_from: Date; expires_at: Date | null; priority: number;
  source_rank: number; seq: number; source: string; subscription_id: string | null;
}
interface SubscriptionRow { id: string; plan_id: string; status: string; anchor: Date | null }
interface PlanEnd { subscription_id: string; credit_type: string; current_end: Date }

/** Renewals of one subscription's plan after as_of, up to the horizon, on its billing calendar. */
function renewalsOf(sub: SubscriptionRow, plan: Plan, creditType: string, currentEnd_ms: number, timeZone: string,
  horizon_ms: number): ScheduledRenewal[] {
  const allotment = plan.allotments[creditType] ?? 0;
  const out: ScheduledRenewal[] = [];
  const anchor_ms = sub.anchor?.getTime() ?? currentEnd_ms;
  let at_ms = currentEnd_ms;
  while (at_ms <= horizon_ms && out.length < 400) {
    // Credits refresh monthly, annual billing or not; periods are counted from the subscription's anchor.
    const index = periodIndexAt({ anchor_ms, time_zone: timeZone, at_ms });
    const end_ms = periodBounds({ anchor_ms, time_zone: timeZone, index }).end_ms;
    out.push({ at_ms, subscription_id: sub.id, allotment_credits: allotment, period_end_ms: end_ms, rollover: plan.rollover });
    at_ms = end_ms;
  }
  return out;
}

const endOfMonth = (ms: number, timeZone: string) =>
  DateTime.fromMillis(ms, { zone: timeZone }).startOf('month').plus({ months: 1 }).toMillis();

/** The forecast, or undefined when there is no such account. */
export async function loadForecast(deps: ForecastDeps, input: { account_id: string; as_of_ms: number }):
  Promise<AccountForecast | undefined> {
  const { sql } = deps;
  const catalog = deps.catalog();
  const asOf = new Date(input.as_of_ms);
  const [acc] = await sql<AccountRow[]>`
    select b.id, b.time_zone, b.country, b.id as billing_account_id
    from accounts a join accounts b on b.id = cf_billing_account(a.id) where a.id = ${input.account_id}`;
  if (!acc) return undefined;
  const billing = acc.billing_account_id;
  const horizon_ms = input.as_of_ms + HORIZON_DAYS * DAY_MS;

  const [grants, committed, spent, subs, planEnds] = await Promise.all([
    sql<GrantRow[]>`
      select credit_type, remaining_credits, effective_from, expires_at, priority, source_rank, seq, source, subscription_id
      from grants
      where account_id = ${billing} and remaining_credits > 0 and (expires_at is null or expires_at > ${asOf})`,
    sql<{ credit_type: string; committed: number }[]>`
      select credit_type, cf_held(account_id, credit_type, ${asOf}, null) + overage_credits as committed
      from balances where account_id = ${billing}`,
    sql<{ credit_type: string; window_days: number; spent: number }[]>`
      select e.credit_type, w.days as window_days, (-sum(e.amount_credits))::bigint as spent
      from unnest(${[...WINDOWS_DAYS]}::int[]) w(days)
      join ledger_entries e on e.account_id = ${billing} and e.kind in ('debit', 'overage')
        and e.effective_at >= ${asOf}::timestamptz - make_interval(days => w.days) and e.effective_at < ${asOf}
      group by 1, 2`,
    sql<SubscriptionRow[]>`
      select s.id, s.plan_id, s.status,
             (select min(g.effective_from) from grants g where g.subscription_id = s.id and g.source = 'plan_allotment') as anchor
      from subscriptions s where s.account_id = ${billing} and s.status in ('active', 'renewal_stopped')`,
    sql<PlanEnd[]>`
      select g.subscription_id, g.credit_type, max(g.expires_at) as current_end
      from grants g join subscriptions s on s.id = g.subscription_id
      where s.account_id = ${billing} and s.status = 'active' and g.source = 'plan_allotment'
        and g.effective_from <= ${asOf} and g.expires_at > ${asOf}
      group by 1, 2`,
  ]);

  const planOf = (id: string) => catalog.plans.find((p) => p.id === id);
  const types = new Set<string>([...grants.map((g) => g.credit_type), ...committed.filter((c) => c.committed > 0)
    .map((c) => c.credit_type), ...planEnds.map((p) => p.credit_type)]);
  const paid = subs.some((s) => (planOf(s.plan_id)?.price_minor ?? 0) > 0);
  const currency = subs.map((s) => planOf(s.plan_id)?.currency).find((c) => c !== undefined) ?? null;

  const credit_types = [...types].sort().map((credit_type) => {
    const renewals = planEnds.filter((p) => p.credit_type === credit_type).flatMap((p) => {
      const sub = subs.find((s) => s.id === p.subscription_id)!;
      const plan = planOf(sub.plan_id);
      return plan ? renewalsOf(sub, plan, credit_type, p.current_end.getTime(), acc.time_zone, horizon_ms) : [];
    });
    const period_end_ms = renewals.length > 0 ? Math.min(...renewals.map((r) => r.at_ms))
      : endOfMonth(input.as_of_ms, acc.time_zone);
    const lots: ForecastLot[] = grants.filter((g) => g.credit_type === credit_type).map((g) => ({
      remaining_credits: g.remaining_credits, effective_from_ms: g.effective_from.getTime(),
      expires_at_ms: g.expires_at?.getTime() ?? null, priority: g.priority, source_rank: g.source_rank, seq: g.seq,
      plan_of_subscription: g.source === 'plan_allotment' || g.source === 'rollover' ? g.subscription_id : null,
    }));
    const bundles: BundleOption[] = catalog.bundles.filter((b) => b.credit_type === credit_type
      && (!b.eligibility.requires_paid_plan || paid)
      && (b.eligibility.countries === null || b.eligibility.countries.includes(acc.country))
      && (b.validity === null
        || addCalendarDuration({ from_ms: input.as_of_ms, duration: b.validity, time_zone: acc.time_zone }) >= period_end_ms))
      .map((b) => ({ bundle_id: b.id, amount_credits: b.amount_credits, price_minor: b.price_minor, currency: b.currency }));
    return forecast({
      credit_type, as_of_ms: input.as_of_ms, lots,
      committed_credits: committed.find((c) => c.credit_type === credit_type)?.committed ?? 0,
      windows: WINDOWS_DAYS.map((days) => ({ window_days: days,
        spent_credits: spent.find((s) => s.credit_type === credit_type && s.window_days === days)?.spent ?? 0 })),
      renewals, period_end_ms, horizon_ms, bundles, preferred_currency: currency,
    });
  });
  return { account_id: input.account_id, billing_account_id: billing, time_zone: acc.time_zone, as_of_ms: input.as_of_ms,
    credit_types };
}

/**
 * For the worker: `computeForecast({ account_id, as_of_ms })` as an activity (register it with the others). An
 * unknown account is a caller's bug there, so it fails the activity without retries, as loadAccount does.
 */
export function createForecastActivities(deps: ForecastDeps) {
  return {
    async computeForecast(input: { account_id: string; as_of_ms: number }): Promise<AccountForecast> {
      const result = await loadForecast(deps, input);
      if (!result) throw ApplicationFailure.nonRetryable(`account ${input.account_id} does not exist`, 'unknown_account');
      return result;
    },
  };
}

export type ForecastActivities = ReturnType<typeof createForecastActivities>;
