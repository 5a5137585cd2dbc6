import { z } from 'zod';
import { SmsUsage, VoiceUsage } from '../rating/schema';

export const MAX_BATCH_EVENTS = 1000;
/** How far ahead of the server's clock an event may claim to have happened (clock skew, not scheduling). */
export const MAX_FUTURE_SKEW_S = 300;
const METADATA_BYTES_MAX = 4096;

/** Flat key → scalar pairs, kept for reporting; flat so it is cheap to store, index and document. */
export const Metadata = z.record(z.string().min(1).max(100), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]))
  .refine((m) => JSON.stringify(m).length <= METADATA_BYTES_MAX, `metadata is at most ${METADATA_BYTES_MAX} bytes of JSON`);

export const UsageEvent = z.object({
  event_id: z.string().min(1).max(200).describe('the client\'s id for this event: a resend with it is a duplicate'),
  account_id: z.string().min(1).max(200),
  credit_type: z.string().min(1).max(64),
  occurred_at: z.iso.datetime({ offset: true }).optional()
    .describe('when the usage happened (default: when received); credits are drawn as of this instant'),
  sms: SmsUsage.optional(),
  voice: VoiceUsage.optional(),
  amount_credits: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional()
    .describe('credits already rated by the sender'),
  list: z.string().min(1).max(200).optional().describe('the sender\'s list or campaign, kept for reporting'),
  metadata: Metadata.optional(),
}).strict().superRefine((e, ctx) => {
  const measures = ['sms', 'voice', 'amount_credits'].filter((k) => e[k as keyof typeof e] !== undefined);
  if (measures.length !== 1) {
    ctx.addIssue({ code: 'custom', path: [], message: 'exactly one of sms, voice or amount_credits is required' });
  }
});
export type UsageEvent = z.infer<typeof UsageEvent>;

export const AcceptedUsage = z.object({
  status: z.literal('accepted'),
  usage_event_id: z.string(),
  drawn_credits: z.number().int(),
  overage_credits: z.number().int().describe('of drawn_credits, how many went beyond zero under an overage policy'),
  available_after_credits: z.number().int(),
  rate_card_version: z.string().nullable(),
  thresholds_crossed: z.array(z.number().int()),
});
export type AcceptedUsage = z.infer<typeof AcceptedUsage>;

export const REFUSAL_CODES = [
  'insufficient_credits', 'unknown_account', 'unknown_credit_type', 'unrateable', 'timestamp_outside_grace',
  'invalid_event', 'list_limit_exceeded',
] as const;
export type UsageRefusalCode = (typeof REFUSAL_CODES)[number];

export const UsageResult = z.discriminatedUnion('status', [
  AcceptedUsage.extend({ event_id: z.string() }),
  z.object({
    status: z.literal('duplicate'),
    event_id: z.string(),
    original: AcceptedUsage.extend({ detail_purged: z.boolean().optional() }).describe('the answer the event got first'),
  }),
  z.object({
    status: z.literal('refused'),
    event_id: z.string().nullable(),
    code: z.enum(REFUSAL_CODES),
    message: z.string(),
    available_credits: z.number().int().optional(),
    requested_credits: z.number().int().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    list: z.string().optional().describe('list_limit_exceeded: the list, its limit and what it has left'),
    period: z.enum(['month', 'total']).optional(),
    limit_credits: z.number().int().optional(),
    spent_credits: z.number().int().optional(),
    remaining_credits: z.number().int().optional(),
  }),
]);
export type UsageResult = z.infer<typeof UsageResult>;
