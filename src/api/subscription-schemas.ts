import type {
  AlertSettings, AutoRepurchaseSettings, KnownGrant, Period, Purchase, SubscriptionStatus, SubscriptionView,
} from '../workflows/messages';
import { Balance, ClientId, SubscriptionId } from './schemas';
import { z } from './zod';

/**
 * The subscription workflow's messages (src/workflows/messages.ts) as zod schemas, for validation and the
 * OpenAPI document. The assertions at the bottom make tsc fail if the two ever disagree.
 */

const Credits = z.number().int();
const EpochMs = z.number().int().describe('epoch milliseconds');
const Id = z.string().min(1).max(64);

export const SubscriptionStatusSchema = z.enum([
  'pending', 'active', 'renewal_stopped', 'past_due', 'cancelled', 'ended', 'payment_failed',
]).openapi('SubscriptionStatus');

const PeriodSchema = z.object({ index: z.number().int(), start_ms: EpochMs, end_ms: EpochMs }).openapi('Period');

const KnownGrantSchema = z.object({
  grant_id: z.string(),
  credit_type: z.string(),
  source: z.enum(['plan_allotment', 'rollover', 'bundle', 'adjustment']),
  amount_credits: Credits,
  period_index: z.number().int().nullable(),
  expires_at_ms: EpochMs.nullable(),
  bundle_id: z.string().nullable(),
  purchased_by: z.string().nullable(),
  expired: z.boolean(),
}).openapi('SubscriptionGrant');

export const PurchaseSchema = z.object({
  request_id: z.string(),
  bundle_id: z.string(),
  purchased_by: z.string(),
  at_ms: EpochMs,
  status: z.enum(['succeeded', 'failed']),
  grant_id: z.string().nullable(),
  invoice_id: z.string().nullable(),
  price_minor: z.number().int(),
  currency: z.string(),
  reason: z.string().nullable(),
  auto: z.boolean(),
}).openapi('Purchase');

const Threshold = z.strictObject({
  credit_type: Id,
  credits: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  percent_of_allotment: z.number().int().min(1).max(100).optional().describe('a whole percentage, 1 to 100'),
}).refine((t) => (t.credits === undefined) !== (t.percent_of_allotment === undefined), {
  message: 'give exactly one of credits and percent_of_allotment',
});

export const AlertSettingsSchema = z.strictObject({
  thresholds: z.array(Threshold).max(20).describe('alert when available credits fall to or below each'),
  expiring_soon_notice_ms: z.number().int().min(0).max(366 * 24 * 3_600_000)
    .describe('how long before a grant expires `credits.expiring_soon` is sent'),
}).openapi('AlertSettings');

const AutoRepurchaseFields = {
  enabled: z.boolean(),
  bundle_id: Id.nullable(),
  trigger_below_credits: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  max_purchases_per_month: z.number().int().nonnegative().max(1_000),
  max_spend_minor_per_month: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
};

export const AutoRepurchaseInputSchema = z.strictObject(AutoRepurchaseFields)
  .refine((a) => !a.enabled || a.bundle_id !== null, { message: 'enabled needs a bundle_id', path: ['bundle_id'] })
  .openapi('AutoRepurchaseInput');

const AutoRepurchaseSchema = z.object({ ...AutoRepurchaseFields, bundle_id: z.string().nullable(), paused: z.boolean() })
  .openapi('AutoRepurchaseSettings');

export const SubscriptionViewSchema = z.object({
  subscription_id: z.string(),
  account_id: z.string(),
  plan_id: z.string(),
  pending_plan_id: z.string().nullable().describe('takes effect at the next renewal'),
  status: SubscriptionStatusSchema,
  time_zone: z.string(),
  renewal_enabled: z.boolean(),
  current_period: PeriodSchema.nullable(),
  next_renewal_at_ms: EpochMs.nullable(),
  billing_interval: z.enum(['monthly', 'annual']),
  grants: z.array(KnownGrantSchema),
  purchases: z.array(PurchaseSchema),
  alerts: AlertSettingsSchema,
  auto_repurchase: AutoRepurchaseSchema,
  catalog_version: z.string(),
  generation: z.number().int().describe('continue-as-new hand-overs so far'),
}).openapi('Subscription');

export const SubscriptionDetailSchema = z.object({
  subscription: SubscriptionViewSchema,
  balances: z.array(Balance).describe('exact, from the ledger at the time of asking'),
}).openapi('SubscriptionDetail');

export const BundlePurchaseSchema = z.object({ purchase: PurchaseSchema, grant: KnownGrantSchema })
  .openapi('BundlePurchase');

export const StartInputSchema = z.strictObject({
  subscription_id: SubscriptionId,
  account_id: ClientId,
  plan_id: Id,
}).openapi('StartSubscriptionInput');

// --- the schemas above must describe exactly the workflow's types ----------------------------------------------
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree: [
  Same<z.infer<typeof SubscriptionStatusSchema>, SubscriptionStatus>,
  Same<z.infer<typeof PeriodSchema>, Period>,
  Same<z.infer<typeof KnownGrantSchema>, KnownGrant>,
  Same<z.infer<typeof PurchaseSchema>, Purchase>,
  Same<z.infer<typeof AlertSettingsSchema>, AlertSettings>,
  Same<z.infer<typeof AutoRepurchaseSchema>, AutoRepurchaseSettings>,
  Same<z.infer<typeof SubscriptionViewSchema>, SubscriptionView>,
] = [true, true, true, true, true, true, true];
void agree;
