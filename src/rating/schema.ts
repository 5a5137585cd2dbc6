import { z } from 'zod';
import { CountryCode, Credits, Id } from '../catalog/schema';

/** Credits charged per unit; a rate of zero would make usage free by accident, so rates are at least 1. */
const Rate = Credits.positive().max(1_000_000);

export const SmsSegmentsRate = z.object({
  kind: z.literal('sms_segments'),
  default_credits_per_segment: Rate.describe('for any country not listed'),
  credits_per_segment_by_country: z.record(CountryCode, Rate.nullable())
    .describe('by destination (ISO 3166-1 alpha-2); null: not delivered there, so unrateable'),
});
export type SmsSegmentsRate = z.infer<typeof SmsSegmentsRate>;

export const VoiceRounding = z.enum(['ceil_minute', 'first_minute_then_ceil'])
  .describe('ceil_minute: every started minute; first_minute_then_ceil: at least one whole minute, then every started minute');
export type VoiceRounding = z.infer<typeof VoiceRounding>;

export const VoiceMinutesRate = z.object({
  kind: z.literal('voice_minutes'),
  credits_per_minute: Rate,
  rounding: VoiceRounding,
  minimum_billable_s: z.number().int().min(0).max(3600).describe('a shorter call is billed as this long'),
});
export type VoiceMinutesRate = z.infer<typeof VoiceMinutesRate>;

export const CreditTypeRate = z.discriminatedUnion('kind', [SmsSegmentsRate, VoiceMinutesRate]);
export type CreditTypeRate = z.infer<typeof CreditTypeRate>;

export const RateCard = z.object({
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  effective_from: z.iso.datetime({ offset: true }).describe('the card rates events that occurred at or after this'),
  description: z.string().default(''),
  rates: z.record(Id, CreditTypeRate).describe('by credit type; a credit type absent here cannot be used'),
});
export type RateCard = z.infer<typeof RateCard>;

/** Published cards are never edited: a price change is a new version with a later effective_from. */
export const RateCards = z.object({
  cards: z.array(RateCard).min(1),
}).superRefine((f, ctx) => {
  const versions = f.cards.map((c) => c.version);
  if (new Set(versions).size !== versions.length) ctx.addIssue({ code: 'custom', message: 'duplicate card version' });
  for (let i = 1; i < f.cards.length; i++) {
    if (Date.parse(f.cards[i]!.effective_from) <= Date.parse(f.cards[i - 1]!.effective_from)) {
      ctx.addIssue({ code: 'custom', path: ['cards', i, 'effective_from'],
        message: 'cards are listed oldest first, each effective strictly after the one before' });
    }
  }
});
export type RateCards = z.infer<typeof RateCards>;

/** What an SMS event says about its message: the text itself, or a length the sender already encoded. */
export const SmsUsage = z.union([
  z.object({
    to_country: CountryCode,
    // 255 parts is the most a concatenated SMS can have; 40 000 code units is beyond it in any encoding.
    text: z.string().max(40_000),
  }).strict(),
  z.object({
    to_country: CountryCode,
    length: z.number().int().min(0).max(40_000).describe('septets for gsm7, UTF-16 code units for ucs2'),
    encoding: z.enum(['gsm7', 'ucs2']),
  }).strict(),
]);
export type SmsUsage = z.infer<typeof SmsUsage>;

export const VoiceUsage = z.object({
  duration_s: z.number().int().min(1).max(7 * 24 * 3600).describe('connected time; an unanswered call is not usage'),
  to_country: CountryCode.optional(),
}).strict();
export type VoiceUsage = z.infer<typeof VoiceUsage>;
