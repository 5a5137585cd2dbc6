import { ApplicationFailure } from '@temporalio/common';
import { addCalendarDuration, periodBounds } from '../calendar';
import type { Bundle, Catalog, Plan, RolloverPolicy } from '../catalog/schema';
import type { Sql } from '../db/client';
import {
  closeGrant, expireGrant, extendExpiry, grantCredits, IdempotencyConflictError, ledgerKey, settleOverage,
} from '../ledger';
import { PaymentKeyConflictError } from '../payments/port';
import type { PaymentPort } from '../payments/port';
import { rolloverCredits } from '../subscriptions/rollover';
import type { KnownGrant, Period, Purchase, SubscriptionStatus, SubscriptionTerms } from '../workflows/messages';

export interface ActivityDeps {
  sql: Sql;
  payments: PaymentPort;
  /** Read at call time so a catalog reload reaches the next renewal. */
  catalog: () => Catalog;
}

export interface AccountTerms {
  account_id: string;
  time_zone: string;
  country: string;
}

const toMs = (d: Date | string | null): number | null => (d === null ? null : new Date(d).getTime());

/**
 * Activities are the only place creditflow touches the world. Each is idempotent: ledger writes and charges carry
 * keys derived from the subscription id and the logical step (period index, request id), which stay the same
 * across retries, replays and continue-as-new.
 */
export function createActivities(deps: ActivityDeps) {
  return failFastOnBadData(activities(deps));
}

/**
 * Retrying cannot fix a key reused for another request or data PostgreSQL rejects (SQLSTATE classes 22 and 23):
 * such errors become non-retryable failures, so a caller sees them at once instead of an activity retrying forever
 * while its workflow holds its lock.
 */
function failFastOnBadData<T extends Record<string, (...args: never[]) => Promise<unknown>>>(fns: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(fns)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        const code = (err as { code?: unknown })?.code;
        const badData = typeof code === 'string' && /^2[23]/.test(code);
        if (err instanceof IdempotencyConflictError || err instanceof PaymentKeyConflictError || badData) {
          const type = err instanceof IdempotencyConflictError ? err.code : badData ? 'BadData' : (err as Error).name;
          throw ApplicationFailure.nonRetryable((err as Error).message, type);
        }
        throw err;
      }
    };
  }
  return wrapped as T;
}

function activities({ sql, payments, catalog }: ActivityDeps) {
  return {
    /** The catalog the workflow validates against until the next renewal. */
    async loadCatalog(): Promise<Catalog> {
      return catalog();
    },

    async loadAccount(account_id: string): Promise<AccountTerms> {
      const [row] = await sql<AccountTerms[]>`
        select id as account_id, time_zone, country from accounts where id = ${account_id}`;
      if (!row) throw ApplicationFailure.nonRetryable(`account ${account_id} does not exist`, 'unknown_account');
      return row;
    },

    /** The subscriptions table mirrors each workflow for listing and eligibility checks. */
    async recordSubscription(input: { terms: SubscriptionTerms; plan_id: string; status: SubscriptionStatus }): Promise<void> {
      const { terms } = input;
      await sql`
        insert into subscriptions (id, account_id, plan_id, status, terms)
        values (${terms.subscriptionId}, ${terms.accountId}, ${input.plan_id}, ${input.status}, ${sql.json(terms as never)})
        on conflict (id) do update set plan_id = excluded.plan_id, status = excluded.status, updated_at = now()`;
    },

    /** Puts the plan's overage policy on the account's balance rows, where the debit SQL reads it. */
    async applyPlanToBalances(input: { account_id: string; plan: Plan; workflow_id: string }): Promise<void> {
      const types = new Set([...Object.keys(input.plan.allotments), ...Object.keys(input.plan.overage)]);
      for (const credit_type of types) {
        const overage = input.plan.overage[credit_type];
        const allowed = overage?.kind === 'allow';
        const price = overage?.kind === 'allow' ? overage.price_minor_per_credit : null;
        await sql`
          insert into balances (account_id, credit_type, overage_allowed, overage_price_minor_per_credit, notify_workflow_id)
          values (${input.account_id}, ${credit_type}, ${allowed}, ${price}, ${input.workflow_id})
          on conflict (account_id, credit_type) do update set overage_allowed = excluded.overage_allowed,
            overage_price_minor_per_credit = excluded.overage_price_minor_per_credit,
            notify_workflow_id = excluded.notify_workflow_id`;
      }
      await sql`update balances set overage_allowed = false, overage_price_minor_per_credit = null
        where account_id = ${input.account_id} and notify_workflow_id = ${input.workflow_id}
          and credit_type <> all(${[...types]})`;
    },

    /** Alert thresholds resolved to absolute credits, read by the debit SQL to detect crossings. */
    async applyThresholds(input: { account_id: string; workflow_id: string; thresholds: Record<string, number[]> }):
      Promise<void> {
      for (const [credit_type, list] of Object.entries(input.thresholds)) {
        const sorted = [...new Set(list)].sort((a, b) => b - a);
        await sql`
          insert into balances (account_id, credit_type, alert_thresholds_credits, notify_workflow_id)
          values (${input.account_id}, ${credit_type}, ${sorted}, ${input.workflow_id})
          on conflict (account_id, credit_type) do update set alert_thresholds_credits = excluded.alert_thresholds_credits,
            notify_workflow_id = excluded.notify_workflow_id`;
      }
      // A credit type dropped from the alerts stops alerting.
      await sql`update balances set alert_thresholds_credits = '{}'
        where account_id = ${input.account_id} and notify_workflow_id = ${input.workflow_id}
          and credit_type <> all(${Object.keys(input.thresholds)})`;
    },

    /** An ended subscription's balances allow no more overage and tell its workflow nothing more. */
    async releaseBalances(input: { account_id: string; workflow_id: string }): Promise<void> {
      await sql`update balances set overage_allowed = false, alert_thresholds_credits = '{}', notify_workflow_id = null
        where account_id = ${input.account_id} and notify_workflow_id = ${input.workflow_id}`;
    },

    async charge(input: { key: string; account_id: string; amount_minor: number; currency: string; description: string }) {
      return payments.charge({ idempotency_key: input.key, account_id: input.account_id, amount_minor: input.amount_minor,
        currency: input.currency, description: input.description });
    },

    async computePeriod(input: { anchor_ms: number; time_zone: string; index: number }): Promise<Period> {
      return periodBounds(input);
    },

    /**
     * Opens a period: sweeps the previous period's plan credits (expiry entries at the boundary), carries what the
     * rollover policy allows into a rollover grant, and grants the new allotment. All of it expires at period end.
     */
    async openPeriod(input: {
      subscription_id: string; account_id: string; plan: Plan; period: Period; previous_plan_grants: KnownGrant[];
      previous_allotments: Record<string, number>; previous_rollover: RolloverPolicy; started_by: string;
    }): Promise<{ grants: KnownGrant[]; rolled_over: Record<string, number>; expired: Record<string, number> }> {
      const { subscription_id: sub, account_id, plan, period } = input;
      const boundary = new Date(period.start_ms);
      const end = new Date(period.end_ms);
      const expired: Record<string, number> = {};
      for (const g of input.previous_plan_grants) {
        const r = await expireGrant(sql, `${sub}:grant:${g.grant_id}:expiry`, g.grant_id, boundary);
        expired[g.credit_type] = (expired[g.credit_type] ?? 0) + r.expired_credits;
      }
      const grants: KnownGrant[] = [];
      const rolled_over: Record<string, number> = {};
      for (const [credit_type, left] of Object.entries(expired)) {
        // Credits granted under the previous period's plan roll over by that plan's policy (it may have just changed).
        const carry = rolloverCredits(input.previous_rollover, left, input.previous_allotments[credit_type] ?? 0);
        if (carry <= 0) continue;
        rolled_over[credit_type] = carry;
        const r = await grantCredits(sql, { key: `${sub}:period:${period.index}:rollover:${credit_type}`, accountId: account_id,
          creditType: credit_type, amountCredits: carry, source: 'rollover', effectiveFrom: boundary, expiresAt: end,
          subscriptionId: sub, metadata: { period_index: period.index, policy: input.previous_rollover } });
        grants.push(known(r.grant_id, credit_type, 'rollover', carry, period.index, period.end_ms, null, null));
      }
      for (const [credit_type, amount] of Object.entries(plan.allotments)) {
        if (amount <= 0) continue;
        const r = await grantCredits(sql, { key: `${sub}:period:${period.index}:allotment:${credit_type}`,
          accountId: account_id, creditType: credit_type, amountCredits: amount, source: 'plan_allotment',
          effectiveFrom: boundary, expiresAt: end, subscriptionId: sub, purchasedBy: input.started_by,
          metadata: { period_index: period.index, plan_id: plan.id } });
        grants.push(known(r.grant_id, credit_type, 'plan_allotment', amount, period.index, period.end_ms, null, input.started_by));
      }
      return { grants, rolled_over, expired };
    },

    /** What an alert needs to say about a balance at an instant. */
    async balanceFacts(input: { account_id: string; credit_type: string; as_of_ms: number }):
      Promise<{ available_credits: number; overage_allowed: boolean; overage_credits: number }> {
      const [row] = await sql<{ available_credits: number; overage_allowed: boolean; overage_credits: number }[]>`
        select cf_available(${input.account_id}, ${input.credit_type}, ${new Date(input.as_of_ms)}) as available_credits,
               coalesce(b.overage_allowed, false) as overage_allowed, coalesce(b.overage_credits, 0) as overage_credits
        from (select 1) one left join balances b on b.account_id = ${input.account_id} and b.credit_type = ${input.credit_type}`;
      return row!;
    },

    async grantRemaining(input: { grant_id: string }): Promise<number> {
      const [row] = await sql<{ remaining_credits: number }[]>`select remaining_credits from grants where id = ${input.grant_id}`;
      return row?.remaining_credits ?? 0;
    },

    /** Closes plan credits before their period ends (cancel now). Bundles are the customer's and stay. */
    async closePlanGrants(input: { subscription_id: string; grant_ids: string[]; as_of_ms: number; reason: string }) {
      let closed_credits = 0;
      for (const id of input.grant_ids) {
        const r = await closeGrant(sql, `${input.subscription_id}:grant:${id}:close`, id, new Date(input.as_of_ms),
          'expiry', { reason: input.reason });
        closed_credits += r.closed_credits;
      }
      return { closed_credits };
    },

    /** Sweeps a grant at its expiry; answers its current expiry when it was extended meanwhile. */
    async expireGrantAt(input: { subscription_id: string; grant_id: string; as_of_ms: number }) {
      const r = await expireGrant(sql, `${input.subscription_id}:grant:${input.grant_id}:expiry:${input.as_of_ms}`,
        input.grant_id, new Date(input.as_of_ms));
      if (r.status === 'expired') return { status: 'expired' as const, expired_credits: r.expired_credits, expires_at_ms: input.as_of_ms };
      const [row] = await sql<{ expires_at: Date | null }[]>`select expires_at from grants where id = ${input.grant_id}`;
      return { status: 'not_due' as const, expired_credits: 0, expires_at_ms: toMs(row?.expires_at ?? null) };
    },

    /**
     * Buys a bundle: charge, then (only if paid) grant, then extend the account's other live bundle credits of the
     * same type when the bundle says so. A declined payment is an answer, not an error.
     */
    async purchaseBundle(input: {
      subscription_id: string; account_id: string; time_zone: string; bundle: Bundle; request_id: string;
      purchased_by: string; as_of_ms: number; auto: boolean;
    }): Promise<{ purchase: Purchase; grant: KnownGrant | null; extended: { grant_id: string; expires_at_ms: number }[] }> {
      const { bundle, subscription_id: sub } = input;
      const key = `${sub}:bundle:${input.request_id}`;
      const charge = await payments.charge({ idempotency_key: `${key}:charge`, account_id: input.account_id,
        amount_minor: bundle.price_minor, currency: bundle.currency, description: `bundle ${bundle.id}` });
      const base: Omit<Purchase, 'status' | 'grant_id' | 'reason'> & { at_ms: number } = { request_id: input.request_id,
        bundle_id: bundle.id, purchased_by: input.purchased_by, at_ms: input.as_of_ms, invoice_id: charge.invoice_id,
        price_minor: bundle.price_minor, currency: bundle.currency, auto: input.auto };
      if (charge.status === 'failed') {
        return { purchase: { ...base, status: 'failed', grant_id: null, reason: charge.reason }, grant: null, extended: [] };
      }
      // A re-run of this purchase (same request id, later clock) finds the grant it made and goes on from it.
      const [made] = await sql<{ id: string; effective_from: Date; expires_at: Date | null }[]>`
        select id, effective_from, expires_at from grants where operation_key = ${`${key}:grant`}`;
      const bought_at_ms = made ? made.effective_from.getTime() : input.as_of_ms;
      base.at_ms = bought_at_ms;
      const expires_at_ms = made ? toMs(made.expires_at) : bundle.validity === null ? null
        : addCalendarDuration({ from_ms: bought_at_ms, duration: bundle.validity, time_zone: input.time_zone });
      const g = made ? { grant_id: made.id } : await grantCredits(sql, { key: `${key}:grant`, accountId: input.account_id,
        creditType: bundle.credit_type, amountCredits: bundle.amount_credits, source: 'bundle',
        effectiveFrom: new Date(bought_at_ms), expiresAt: expires_at_ms === null ? null : new Date(expires_at_ms),
        subscriptionId: sub, bundleId: bundle.id, purchasedBy: input.purchased_by, invoiceId: charge.invoice_id,
        metadata: { auto: input.auto } });
      const extended: { grant_id: string; expires_at_ms: number }[] = [];
      if (bundle.extends_existing && expires_at_ms !== null) {
        const others = await sql<{ id: string }[]>`
          select id from grants where account_id = ${input.account_id} and credit_type = ${bundle.credit_type}
            and source = 'bundle' and id <> ${g.grant_id} and remaining_credits > 0
            and expires_at is not null and expires_at > ${new Date(bought_at_ms)} and expires_at <= ${new Date(expires_at_ms)}
          order by id`;
        for (const o of others) {
          const r = await extendExpiry(sql, `${key}:extend:${o.id}`, o.id, new Date(expires_at_ms), new Date(bought_at_ms));
          if (r.status === 'extended') extended.push({ grant_id: o.id, expires_at_ms });
        }
      }
      return {
        purchase: { ...base, status: 'succeeded', grant_id: g.grant_id, reason: null },
        grant: known(g.grant_id, bundle.credit_type, 'bundle', bundle.amount_credits, null, expires_at_ms, bundle.id, input.purchased_by),
        extended,
      };
    },

    /**
     * Bills overage drawn under the plan's policy. The amount is fixed first, by settling it in the ledger under the
     * bill's key; the charge is for exactly that settled amount. A retry finds the settlement and charges the same
     * amount under the same key, so usage arriving meanwhile waits for the next bill instead of changing this one.
     */
    async billOverage(input: { subscription_id: string; account_id: string; period_index: number; as_of_ms: number;
      currency: string; final?: boolean }): Promise<{ billed: { credit_type: string; credits: number; amount_minor: number;
        invoice_id: string; status: string }[] }> {
      const rows = await sql<{ credit_type: string; overage_credits: number; price: number | null }[]>`
        select credit_type, overage_credits, overage_price_minor_per_credit as price from balances
        where account_id = ${input.account_id} order by credit_type`;
      const billed = [];
      for (const row of rows) {
        const key = ledgerKey(input.subscription_id, 'overage', input.final ? 'final' : String(input.period_index), row.credit_type);
        const [prior] = await sql<{ credits: string; price: string | null }[]>`
          select request ->> 'amount_credits' as credits, request ->> 'price' as price
          from operations where idempotency_key = ${`${key}:settle`}`;
        let credits = prior ? Number(prior.credits) : row.overage_credits;
        if (credits <= 0) continue;
        if (!prior) {
          const settled = await settleOverage(sql, `${key}:settle`, input.account_id, row.credit_type, credits,
            new Date(input.as_of_ms), key);
          if (settled.status !== 'settled') continue;
        }
        const amount_minor = credits * (row.price ?? 0);
        const charge = await payments.charge({ idempotency_key: key, account_id: input.account_id, amount_minor,
          currency: input.currency, description: `overage ${credits} ${row.credit_type}` });
        billed.push({ credit_type: row.credit_type, credits, amount_minor, invoice_id: charge.invoice_id, status: charge.status });
        credits = 0;
      }
      return { billed };
    },
  };
}

function known(grant_id: string, credit_type: string, source: KnownGrant['source'], amount_credits: number,
  period_index: number | null, expires_at_ms: number | null, bundle_id: string | null, purchased_by: string | null): KnownGrant {
  return { grant_id, credit_type, source, amount_credits, period_index, expires_at_ms, bundle_id, purchased_by, expired: false };
}

export type Activities = ReturnType<typeof activities>;
