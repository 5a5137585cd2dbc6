import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/**
 * The subscription workflow's public surface. Types only (no I/O): this file is imported by the workflow bundle,
 * the API and the CLI alike. Instants are epoch milliseconds (`_ms`) so workflow state stays plain JSON.
 */

export type SubscriptionStatus =
  | 'pending'           // started, first charge not yet done
  | 'active'
  | 'renewal_stopped'   // runs to period end, then ends; can be resumed before then
  | 'past_due'          // a renewal charge failed; retried, then ended
  | 'cancelled'         // ended now by ops; plan credits closed
  | 'ended'             // ran out its last period
  | 'payment_failed';   // the first charge failed: nothing was granted

export interface SubscriptionTerms {
  subscriptionId: string;
  accountId: string;
  planId: string;
  /** Who started it (API key label or user); recorded on the first invoice and grant. */
  startedBy: string;
}

export interface Period {
  index: number;
  start_ms: number;
  end_ms: number;
}

export interface KnownGrant {
  grant_id: string;
  credit_type: string;
  source: 'plan_allotment' | 'rollover' | 'bundle' | 'adjustment';
  amount_credits: number;
  period_index: number | null;
  expires_at_ms: number | null;
  bundle_id: string | null;
  purchased_by: string | null;
  expired: boolean;
}

export interface Purchase {
  request_id: string;
  bundle_id: string;
  purchased_by: string;
  at_ms: number;
  status: 'succeeded' | 'failed';
  grant_id: string | null;
  invoice_id: string | null;
  price_minor: number;
  currency: string;
  reason: string | null;
  auto: boolean;
}

export interface AlertSettings {
  /** Thresholds per credit type: an absolute number of credits or a percentage of the plan's allotment. */
  thresholds: { credit_type: string; credits?: number; percent_of_allotment?: number }[];
  /** How long before a grant expires `credits.expiring_soon` is sent. */
  expiring_soon_notice_ms: number;
}

export interface AutoRepurchaseSettings {
  enabled: boolean;
  bundle_id: string | null;
  /** The low-balance threshold (credits, per the bundle's credit type) that triggers a purchase. */
  trigger_below_credits: number;
  max_purchases_per_month: number;
  max_spend_minor_per_month: number;
  /** Set after a failed payment: purchases wait until ops resume them. */
  paused: boolean;
}

export interface SubscriptionView {
  subscription_id: string;
  account_id: string;
  plan_id: string;
  pending_plan_id: string | null;
  status: SubscriptionStatus;
  time_zone: string;
  renewal_enabled: boolean;
  current_period: Period | null;
  next_renewal_at_ms: number | null;
  billing_interval: 'monthly' | 'annual';
  grants: KnownGrant[];
  purchases: Purchase[];
  alerts: AlertSettings;
  auto_repurchase: AutoRepurchaseSettings;
  catalog_version: string;
  /** How many continue-as-new hand-overs this subscription has lived through. */
  generation: number;
}

export type ActivateResult =
  | { outcome: 'active'; view: SubscriptionView }
  | { outcome: 'payment_failed'; reason: string; view: SubscriptionView };

export interface RequestMeta {
  /** Client-chosen id; the same id twice answers the first result (kept across continue-as-new). */
  request_id: string;
  by: string;
}

export type BuyBundleResult =
  | { outcome: 'granted'; purchase: Purchase; grant: KnownGrant }
  | { outcome: 'payment_failed'; purchase: Purchase };

export interface ThresholdCrossing {
  crossing_id: number;
  credit_type: string;
  threshold_credits: number;
  available_before: number;
  available_after: number;
  crossed_at_ms: number;
}

/** Start-or-attach and answer once the first charge and grant are done (update-with-start). */
export const activateUpdate = defineUpdate<ActivateResult, [SubscriptionTerms]>('activate');
export const stopRenewalUpdate = defineUpdate<SubscriptionView, [RequestMeta]>('stopRenewal');
export const resumeRenewalUpdate = defineUpdate<SubscriptionView, [RequestMeta]>('resumeRenewal');
export const cancelUpdate = defineUpdate<SubscriptionView, [RequestMeta & { reason?: string }]>('cancel');
export const changePlanUpdate = defineUpdate<SubscriptionView, [RequestMeta & { plan_id: string }]>('changePlan');
export const buyBundleUpdate = defineUpdate<BuyBundleResult, [RequestMeta & { bundle_id: string }]>('buyBundle');
export const setAlertsUpdate = defineUpdate<SubscriptionView, [RequestMeta & { alerts: AlertSettings }]>('setAlerts');
export const setAutoRepurchaseUpdate =
  defineUpdate<SubscriptionView, [RequestMeta & { auto_repurchase: Omit<AutoRepurchaseSettings, 'paused'> }]>('setAutoRepurchase');
export const resumeAutoRepurchaseUpdate = defineUpdate<SubscriptionView, [RequestMeta]>('resumeAutoRepurchase');

/** Sent by the usage path (through its outbox) when a debit crosses an alert threshold. */
export const thresholdCrossedSignal = defineSignal<[ThresholdCrossing]>('thresholdCrossed');

export const stateQuery = defineQuery<SubscriptionView>('state');

/** Refusals a validator raises (ApplicationError type), mapped by the API to problem codes. */
export const REFUSALS = [
  'unknown_plan', 'unknown_bundle', 'not_eligible', 'terms_conflict', 'not_active', 'already_stopped',
  'not_stopped', 'period_ended', 'same_plan', 'currency_mismatch', 'invalid_settings', 'idempotency_conflict',
] as const;
export type Refusal = (typeof REFUSALS)[number];

export const workflowIdFor = (subscriptionId: string) => `subscription/${subscriptionId}`;
