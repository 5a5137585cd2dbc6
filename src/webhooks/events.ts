import { z } from 'zod';
import { Credits, MinorUnits } from '../catalog/schema';

/**
 * The closed list of events creditflow sends, as Standard Webhooks envelopes: { type, timestamp, data }.
 * `timestamp` is when the event happened (the workflow's clock), chosen by the sender so that the payload is a pure
 * function of the event and a replayed enqueue can be told apart from a different event reusing a message id.
 * Credits are integers of their credit type (`*_credits`); money is integer minor units (`*_minor`) + currency.
 * Pure (zod only): safe to import from workflow code.
 */

const Instant = z.iso.datetime({ offset: true }).describe('ISO 8601 instant');
/** Available credits may sit below zero while overage is drawn, so unlike `Credits` this one is signed. */
const SignedCredits = z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const Currency = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217, e.g. "USD"');
const AccountId = z.string().min(1);
const SubscriptionId = z.string().min(1);
const CreditType = z.string().min(1);
const GrantSource = z.enum(['plan_allotment', 'rollover', 'bundle', 'adjustment']);

function envelope<const T extends string, D extends z.ZodRawShape>(type: T, description: string, data: D) {
  return z.strictObject({ type: z.literal(type), timestamp: Instant, data: z.strictObject(data) }).describe(description);
}

/** A balance belongs to the account; the subscription is the one whose workflow noticed, when there is one. */
const balanceSubject = {
  account_id: AccountId,
  subscription_id: SubscriptionId.nullable(),
  credit_type: CreditType,
};

const purchaseSubject = {
  account_id: AccountId,
  subscription_id: SubscriptionId,
  request_id: z.string().min(1).describe("the buyer's request id (idempotency key of the purchase)"),
  bundle_id: z.string().min(1),
  purchased_by: z.string().min(1),
  auto: z.boolean().describe('bought by auto-repurchase rather than by a person'),
  price_minor: MinorUnits,
  currency: Currency,
};

export const BalanceLowEvent = envelope('balance.low', 'available credits fell below an alert threshold', {
  ...balanceSubject,
  threshold_credits: Credits,
  available_before_credits: SignedCredits,
  available_after_credits: SignedCredits,
});

export const BalanceDepletedEvent = envelope('balance.depleted', 'no credits left to draw; further usage is refused ' +
  'unless the plan allows overage', {
  ...balanceSubject,
  available_credits: SignedCredits,
  overage_allowed: z.boolean(),
  overage_credits: Credits.describe('drawn beyond zero and not yet settled'),
});

export const BalanceRecoveredEvent = envelope('balance.recovered', 'available credits rose back above the threshold ' +
  'that was crossed (renewal, purchase or adjustment)', {
  ...balanceSubject,
  available_credits: SignedCredits,
  threshold_credits: Credits.nullable().describe('the threshold now cleared; null when recovering from depletion'),
});

export const BalanceForecastLowEvent = envelope('balance.forecast_low', 'at the recent burn rate the balance runs ' +
  'out before the next renewal', {
  ...balanceSubject,
  available_credits: SignedCredits,
  burn_rate_credits_per_day: Credits.describe('recent average, rounded up'),
  depletes_at: Instant,
  next_renewal_at: Instant.nullable(),
});

export const CreditsExpiringSoonEvent = envelope('credits.expiring_soon', 'unused credits of a grant expire soon', {
  ...balanceSubject,
  grant_id: z.string().min(1),
  source: GrantSource,
  expiring_credits: Credits.describe('what is left of the grant and will expire unless used'),
  expires_at: Instant,
});

export const PurchaseSucceededEvent = envelope('purchase.succeeded', 'a bundle was paid for and its credits granted', {
  ...purchaseSubject,
  credit_type: CreditType,
  amount_credits: Credits,
  grant_id: z.string().min(1),
  invoice_id: z.string().min(1),
});

export const PurchaseFailedEvent = envelope('purchase.failed', 'a bundle purchase was declined; nothing was granted', {
  ...purchaseSubject,
  invoice_id: z.string().min(1).nullable(),
  reason: z.string().min(1),
});

export const SubscriptionRenewedEvent = envelope('subscription.renewed', 'a new period started: charged and granted', {
  account_id: AccountId,
  subscription_id: SubscriptionId,
  plan_id: z.string().min(1),
  period_index: z.number().int().nonnegative(),
  period_start: Instant,
  period_end: Instant,
  invoice_id: z.string().min(1).nullable(),
  price_minor: MinorUnits,
  currency: Currency,
  granted: z.array(z.strictObject({
    grant_id: z.string().min(1),
    credit_type: CreditType,
    source: GrantSource,
    amount_credits: Credits,
  })),
});

export const SubscriptionEndedEvent = envelope('subscription.ended', 'the subscription will not renew again', {
  account_id: AccountId,
  subscription_id: SubscriptionId,
  plan_id: z.string().min(1),
  reason: z.enum(['period_ended', 'cancelled', 'payment_failed']),
});

export const WebhookEvent = z.discriminatedUnion('type', [
  BalanceLowEvent,
  BalanceDepletedEvent,
  BalanceRecoveredEvent,
  BalanceForecastLowEvent,
  CreditsExpiringSoonEvent,
  PurchaseSucceededEvent,
  PurchaseFailedEvent,
  SubscriptionRenewedEvent,
  SubscriptionEndedEvent,
]);
export type WebhookEvent = z.infer<typeof WebhookEvent>;
export type WebhookEventType = WebhookEvent['type'];
export type WebhookEventOf<T extends WebhookEventType> = Extract<WebhookEvent, { type: T }>;

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = WebhookEvent.options.map((o) => o.shape.type.value);
