import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/catalog';
import { billableMinutes, createRater, loadRateCards, parseRateCards, RateCardError } from '../../src/rating';

const AT = new Date('2026-06-01T12:00:00Z');

const cards = parseRateCards({
  cards: [
    {
      version: 'v1',
      effective_from: '2026-01-01T00:00:00Z',
      rates: {
        sms: { kind: 'sms_segments', default_credits_per_segment: 2,
          credits_per_segment_by_country: { US: 1, JP: 4, KP: null } },
        voice_local_min: { kind: 'voice_minutes', credits_per_minute: 1, rounding: 'ceil_minute', minimum_billable_s: 0 },
        voice_tollfree_min: { kind: 'voice_minutes', credits_per_minute: 3, rounding: 'first_minute_then_ceil',
          minimum_billable_s: 0 },
      },
    },
    {
      version: 'v2',
      effective_from: '2026-07-01T00:00:00Z',
      rates: {
        sms: { kind: 'sms_segments', default_credits_per_segment: 5, credits_per_segment_by_country: { US: 2 } },
        voice_local_min: { kind: 'voice_minutes', credits_per_minute: 1, rounding: 'ceil_minute', minimum_billable_s: 30 },
      },
    },
  ],
});
const rater = createRater(cards);

describe('rating', () => {
  it.each([
    ['161 GSM characters to the US: 2 segments × 1', { to_country: 'US', text: 'a'.repeat(161) }, 2],
    ['161 GSM characters to Japan: 2 segments × 4', { to_country: 'JP', text: 'a'.repeat(161) }, 8],
    ['an unlisted country takes the default', { to_country: 'FR', text: 'hello' }, 2],
    ['an emoji message of 71 units to the US: 2 UCS-2 parts', { to_country: 'US', text: `${'a'.repeat(69)}😀` }, 2],
    ['a stated UCS-2 length', { to_country: 'US', length: 135, encoding: 'ucs2' }, 3],
  ] as const)('SMS: %s', (_name, sms, credits) => {
    const r = rater.rate({ credit_type: 'sms', occurred_at: AT, sms });
    expect(r).toMatchObject({ ok: true, amount_credits: credits, rate_card_version: 'v1' });
  });

  it('says how it got there', () => {
    expect(rater.rate({ credit_type: 'sms', occurred_at: AT, sms: { to_country: 'JP', text: '€'.repeat(81) } })).toEqual({
      ok: true, amount_credits: 8, rate_card_version: 'v1',
      breakdown: { method: 'sms_segments', to_country: 'JP', encoding: 'gsm7', units: 162, segments: 2,
        credits_per_segment: 4, rate_from: 'country' },
    });
  });

  it.each([
    ['voice_local_min', 1, 1], ['voice_local_min', 60, 1], ['voice_local_min', 61, 2], ['voice_local_min', 3600, 60],
    ['voice_tollfree_min', 1, 3], ['voice_tollfree_min', 60, 3], ['voice_tollfree_min', 61, 6], ['voice_tollfree_min', 121, 9],
  ] as const)('voice: %s for %i s → %i credits', (credit_type, duration_s, credits) => {
    expect(rater.rate({ credit_type, occurred_at: AT, voice: { duration_s } }))
      .toMatchObject({ ok: true, amount_credits: credits });
  });

  it('rounds voice per call with a minimum billable duration', () => {
    expect(billableMinutes(10, 'ceil_minute', 0)).toEqual({ duration_s: 10, billable_s: 10, minutes: 1 });
    expect(billableMinutes(10, 'ceil_minute', 90)).toEqual({ duration_s: 10, billable_s: 90, minutes: 2 });
    expect(billableMinutes(10, 'first_minute_then_ceil', 0)).toEqual({ duration_s: 10, billable_s: 60, minutes: 1 });
    expect(billableMinutes(120, 'first_minute_then_ceil', 0).minutes).toBe(2);
    expect(billableMinutes(7 * 24 * 3600 + 1, 'ceil_minute', 0).minutes).toBe(7 * 24 * 60 + 1);
  });

  it('picks the card in effect when the event occurred, or the version asked for', () => {
    const sms = { to_country: 'US', text: 'hi' } as const;
    expect(rater.rate({ credit_type: 'sms', occurred_at: new Date('2026-06-30T23:59:59.999Z'), sms }))
      .toMatchObject({ amount_credits: 1, rate_card_version: 'v1' });
    expect(rater.rate({ credit_type: 'sms', occurred_at: new Date('2026-07-01T00:00:00Z'), sms }))
      .toMatchObject({ amount_credits: 2, rate_card_version: 'v2' });
    expect(rater.rate({ credit_type: 'sms', occurred_at: AT, sms }, 'v2'))
      .toMatchObject({ amount_credits: 2, rate_card_version: 'v2' });
    expect(rater.rate({ credit_type: 'sms', occurred_at: AT, sms }, 'v9')).toMatchObject({ ok: false, code: 'unrateable' });
    expect(rater.rate({ credit_type: 'sms', occurred_at: new Date('2025-12-31T00:00:00Z'), sms }))
      .toMatchObject({ ok: false, code: 'unrateable' });
  });

  it('states direct amounts as given, for a credit type the card rates', () => {
    expect(rater.rate({ credit_type: 'voice_local_min', occurred_at: AT, amount_credits: 17 }))
      .toEqual({ ok: true, amount_credits: 17, rate_card_version: 'v1', breakdown: { method: 'direct' } });
    // v2 no longer lists toll-free minutes
    expect(rater.rate({ credit_type: 'voice_tollfree_min', occurred_at: new Date('2026-08-01T00:00:00Z'), amount_credits: 1 }))
      .toMatchObject({ ok: false, code: 'unknown_credit_type' });
  });

  it.each([
    ['a credit type no card rates', { credit_type: 'mms', sms: { to_country: 'US', text: 'x' } }, 'unknown_credit_type'],
    ['a country not served', { credit_type: 'sms', sms: { to_country: 'KP', text: 'x' } }, 'unrateable'],
    ['SMS usage on a minutes credit type', { credit_type: 'voice_local_min', sms: { to_country: 'US', text: 'x' } }, 'unrateable'],
    ['voice usage on SMS credits', { credit_type: 'sms', voice: { duration_s: 5 } }, 'unrateable'],
    ['two measures at once', { credit_type: 'sms', amount_credits: 1, sms: { to_country: 'US', text: 'x' } }, 'unrateable'],
    ['no measure', { credit_type: 'sms' }, 'unrateable'],
    ['more than 255 parts', { credit_type: 'sms', sms: { to_country: 'US', length: 256 * 153, encoding: 'gsm7' } }, 'unrateable'],
    ['a zero amount', { credit_type: 'sms', amount_credits: 0 }, 'unrateable'],
  ] as const)('refuses %s', (_name, event, code) => {
    expect(rater.rate({ ...event, occurred_at: AT })).toMatchObject({ ok: false, code });
  });

  it('rejects a card file that rewrites history or repeats a version', () => {
    const card = { version: 'a', effective_from: '2026-01-01T00:00:00Z', rates: {} };
    expect(() => parseRateCards({ cards: [card, { ...card, version: 'b', effective_from: '2025-01-01T00:00:00Z' }] }))
      .toThrow(RateCardError);
    expect(() => parseRateCards({ cards: [card, { ...card, effective_from: '2027-01-01T00:00:00Z' }] }))
      .toThrow(/duplicate card version/);
    expect(() => parseRateCards({ cards: [{ ...card, rates: { sms: { kind: 'sms_segments', default_credits_per_segment: 0,
      credits_per_segment_by_country: {} } } }] })).toThrow(RateCardError);
  });

  it('the shipped cards load and rate every credit type of the catalog', () => {
    const shipped = createRater(loadRateCards());
    const card = shipped.cardAt(new Date())!;
    expect(Object.keys(card.rates).sort()).toEqual(loadCatalog().credit_types.map((t) => t.id).sort());
  });
});
