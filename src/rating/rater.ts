import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RateCards, type RateCard, type SmsUsage, type VoiceRounding, type VoiceUsage } from './schema';
import { MAX_SEGMENTS, segmentsOfLength, segmentsOfText, type SmsEncoding } from './sms-segments';
import { billableMinutes } from './voice-minutes';

export const DEFAULT_RATE_CARDS_FILE = join(__dirname, '..', '..', 'catalog', 'rate-cards.json');

export class RateCardError extends Error {}

/** Reads and validates the rate cards; a bad file stops the process with every problem listed. */
export function loadRateCards(file: string = DEFAULT_RATE_CARDS_FILE): RateCards {
  return parseRateCards(JSON.parse(readFileSync(file, 'utf8')), file);
}

export function parseRateCards(json: unknown, source = 'rate cards'): RateCards {
  const parsed = RateCards.safeParse(json);
  if (!parsed.success) {
    throw new RateCardError(`${source} are invalid:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return parsed.data;
}

/** What rating needs of a usage event: its credit type, when it happened, and exactly one measure of it. */
export interface RatableEvent {
  credit_type: string;
  occurred_at: Date;
  sms?: SmsUsage;
  voice?: VoiceUsage;
  /** Credits stated by the sender; the card is still consulted, so the credit type must be one it rates. */
  amount_credits?: number;
}

export type RatingBreakdown =
  | { method: 'sms_segments'; to_country: string; encoding: SmsEncoding; units: number; segments: number;
      credits_per_segment: number; rate_from: 'country' | 'default' }
  | { method: 'voice_minutes'; duration_s: number; billable_s: number; minutes: number; rounding: VoiceRounding;
      credits_per_minute: number }
  | { method: 'direct' };

export type Rating =
  | { ok: true; amount_credits: number; rate_card_version: string; breakdown: RatingBreakdown }
  | { ok: false; code: 'unrateable' | 'unknown_credit_type'; message: string };

export interface Rater {
  /** Rates with the card in effect at occurred_at, or with the named version (re-rating, audits). */
  rate(event: RatableEvent, cardVersion?: string): Rating;
  /** The card in effect at an instant, if any. */
  cardAt(at: Date): RateCard | undefined;
}

const unrateable = (message: string): Rating => ({ ok: false, code: 'unrateable', message });

function rateSms(card: RateCard, creditType: string, sms: SmsUsage): Rating {
  const rate = card.rates[creditType];
  if (rate?.kind !== 'sms_segments') return unrateable(`credit type ${creditType} is not rated by SMS segments`);
  const listed = Object.hasOwn(rate.credits_per_segment_by_country, sms.to_country);
  const perSegment = listed ? rate.credits_per_segment_by_country[sms.to_country]! : rate.default_credits_per_segment;
  if (perSegment === null) return unrateable(`SMS to ${sms.to_country} is not offered`);
  const count = 'text' in sms ? segmentsOfText(sms.text) : segmentsOfLength(sms.length, sms.encoding);
  if (count.segments > MAX_SEGMENTS) {
    return unrateable(`message needs ${count.segments} segments; at most ${MAX_SEGMENTS} can be concatenated`);
  }
  return {
    ok: true,
    amount_credits: count.segments * perSegment,
    rate_card_version: card.version,
    breakdown: { method: 'sms_segments', to_country: sms.to_country, ...count, credits_per_segment: perSegment,
      rate_from: listed ? 'country' : 'default' },
  };
}

function rateVoice(card: RateCard, creditType: string, voice: VoiceUsage): Rating {
  const rate = card.rates[creditType];
  if (rate?.kind !== 'voice_minutes') return unrateable(`credit type ${creditType} is not rated by call minutes`);
  const billed = billableMinutes(voice.duration_s, rate.rounding, rate.minimum_billable_s);
  return {
    ok: true,
    amount_credits: billed.minutes * rate.credits_per_minute,
    rate_card_version: card.version,
    breakdown: { method: 'voice_minutes', ...billed, rounding: rate.rounding, credits_per_minute: rate.credits_per_minute },
  };
}

export function createRater(cards: RateCards): Rater {
  // Oldest first (the schema checks it); searched from the newest.
  const ordered = cards.cards.map((c) => ({ card: c, from_ms: Date.parse(c.effective_from) }));
  const byVersion = new Map(cards.cards.map((c) => [c.version, c]));

  const cardAt = (at: Date) => {
    for (let i = ordered.length - 1; i >= 0; i--) if (ordered[i]!.from_ms <= at.getTime()) return ordered[i]!.card;
    return undefined;
  };

  return {
    cardAt,
    rate(event, cardVersion) {
      const card = cardVersion === undefined ? cardAt(event.occurred_at) : byVersion.get(cardVersion);
      if (!card) {
        return unrateable(cardVersion === undefined
          ? `no rate card was in effect at ${event.occurred_at.toISOString()}`
          : `no rate card version ${cardVersion}`);
      }
      if (!Object.hasOwn(card.rates, event.credit_type)) {
        return { ok: false, code: 'unknown_credit_type',
          message: `credit type ${event.credit_type} is not on rate card ${card.version}` };
      }
      const measures = [event.sms, event.voice, event.amount_credits].filter((m) => m !== undefined).length;
      if (measures !== 1) return unrateable('an event carries exactly one of sms, voice or amount_credits');
      if (event.sms) return rateSms(card, event.credit_type, event.sms);
      if (event.voice) return rateVoice(card, event.credit_type, event.voice);
      const amount = event.amount_credits!;
      if (!Number.isSafeInteger(amount) || amount <= 0) return unrateable('amount_credits must be a positive integer');
      return { ok: true, amount_credits: amount, rate_card_version: card.version, breakdown: { method: 'direct' } };
    },
  };
}
