import { z } from 'zod';
import { CalendarDuration } from '../calendar/schema';

/** Whole credits of one credit type. */
export const Credits = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Money in minor units (cents) of the catalog entry's currency. */
export const MinorUnits = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** An exact decimal written as a string, e.g. "0.25"; never parsed to a float. */
export const DecimalString = z.string().regex(/^\d+(\.\d+)?$/, 'a decimal number as a string, e.g. "0.25"');
export const Id = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lowercase letters, digits, _ . -');
export const CountryCode = z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2, e.g. "US"');

export const RolloverPolicy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).describe('unused credits expire at period end'),
  z.object({ kind: z.literal('full') }).describe('everything left carries into the next period'),
  z.object({ kind: z.literal('capped'), max_credits: Credits }).describe('carry at most max_credits'),
  z.object({ kind: z.literal('capped_fraction'), fraction: DecimalString })
    .describe('carry at most fraction × allotment, rounded down'),
]);
export type RolloverPolicy = z.infer<typeof RolloverPolicy>;

export const OveragePolicy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('block') }),
  z.object({ kind: z.literal('allow'), price_minor_per_credit: MinorUnits }),
]);
export type OveragePolicy = z.infer<typeof OveragePolicy>;

export const CreditType = z.object({
  id: Id,
  name: z.string().min(1),
  unit: z.string().min(1).describe('what one credit buys, e.g. "message segment", "minute"'),
});

export const Plan = z.object({
  id: Id,
  name: z.string().min(1),
  allotments: z.record(Id, Credits).describe('credits granted each period, by credit type'),
  price_minor: MinorUnits,
  currency: z.string().regex(/^[A-Z]{3}$/),
  billing_interval: z.enum(['monthly', 'annual']).describe('annual: charged yearly, credits refresh monthly'),
  rollover: RolloverPolicy,
  overage: z.record(Id, OveragePolicy).default({}).describe('by credit type; absent = block'),
});
export type Plan = z.infer<typeof Plan>;

export const Bundle = z.object({
  id: Id,
  name: z.string().min(1),
  credit_type: Id,
  amount_credits: Credits.positive(),
  price_minor: MinorUnits,
  currency: z.string().regex(/^[A-Z]{3}$/),
  validity: CalendarDuration.nullable().describe('null: never expires'),
  extends_existing: z.boolean().describe("buying it moves the account's other bundle credits' expiry to the new one's"),
  eligibility: z.object({
    requires_paid_plan: z.boolean().default(false),
    countries: z.array(CountryCode).nullable().default(null).describe('null: any country'),
  }).default({ requires_paid_plan: false, countries: null }),
});
export type Bundle = z.infer<typeof Bundle>;

export const Catalog = z.object({
  version: z.string().min(1),
  credit_types: z.array(CreditType).min(1),
  plans: z.array(Plan),
  bundles: z.array(Bundle),
}).superRefine((c, ctx) => {
  const types = new Set(c.credit_types.map((t) => t.id));
  for (const p of c.plans) {
    for (const t of [...Object.keys(p.allotments), ...Object.keys(p.overage)]) {
      if (!types.has(t)) ctx.addIssue({ code: 'custom', message: `plan ${p.id}: unknown credit type ${t}` });
    }
  }
  for (const b of c.bundles) {
    if (!types.has(b.credit_type)) ctx.addIssue({ code: 'custom', message: `bundle ${b.id}: unknown credit type ${b.credit_type}` });
  }
  for (const [kind, ids] of [['plan', c.plans.map((p) => p.id)], ['bundle', c.bundles.map((b) => b.id)]] as const) {
    if (new Set(ids).size !== ids.length) ctx.addIssue({ code: 'custom', message: `duplicate ${kind} id` });
  }
});
export type Catalog = z.infer<typeof Catalog>;
