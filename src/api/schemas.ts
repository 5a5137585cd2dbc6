import { isValidTimeZone } from '../calendar';
import { z } from './zod';

/** Schemas shared by several route modules. Route-specific ones live in their route file. */

/** Ids chosen by the client (accounts, subscriptions): they become Temporal workflow ids and ledger keys. */
export const ClientId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/,
  'letters, digits, _ . : - (at most 128, starting with a letter or digit)');

/**
 * A subscription id prefixes every ledger and payment key its workflow writes (`<id>:charge:period:3`), so it may
 * not contain ':' — otherwise one subscription's keys could read as another's.
 */
export const SubscriptionId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/,
  'letters, digits, _ . - (at most 128, starting with a letter or digit; no ":")');

export const AccountIdParams = z.object({ id: ClientId.openapi({ param: { description: 'account id' } }) });
export const SubscriptionIdParams = z.object({ id: ClientId.openapi({ param: { description: 'subscription id' } }) });

/** An instant, always with its offset (`2026-03-01T00:00:00Z`). */
export const Timestamp = z.iso.datetime({ offset: true });

/**
 * Required on every action that changes a subscription or the ledger. Sending the same key again answers the
 * first result instead of acting twice.
 */
export const IdempotencyHeaders = z.object({
  'Idempotency-Key': z.string().min(1).max(200).openapi({
    param: { description: 'Client-chosen id of this request (1–200 characters); a retry with the same key acts once' },
    example: '0b7f2c1e-6a55-4e7b-9a1e-3f1f3b0b6d2c',
  }),
});

export const iso = (d: Date | string): string => new Date(d).toISOString();
export const isoOrNull = (d: Date | string | null): string | null => (d === null ? null : iso(d));
export const isoFromMs = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The calendar module's rule, so every zone the API accepts is one the period maths can run in. */
export const TimeZone = z.string().min(1).max(64).refine(isValidTimeZone, 'an IANA time zone, e.g. "Europe/Berlin"')
  .openapi({ example: 'America/New_York' });

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
// Exceptionally reserved or grouping codes that ICU names but that are not countries.
const NOT_COUNTRIES = new Set(['AC', 'CP', 'CQ', 'DG', 'EA', 'EU', 'EZ', 'IC', 'QO', 'TA', 'UK', 'UN', 'ZZ']);
export function isCountryCode(code: string): boolean {
  if (!/^[A-Z]{2}$/.test(code) || NOT_COUNTRIES.has(code)) return false;
  const name = regionNames.of(code);
  return name !== undefined && name !== code;
}
export const Country = z.string().refine(isCountryCode, 'an ISO 3166-1 alpha-2 country code, e.g. "US"')
  .openapi({ example: 'US' });

const Credits = z.number().int();
export const Balance = z.object({
  credit_type: z.string(),
  ledger_balance_credits: Credits.describe('sum of every entry, expired-but-not-yet-swept credits included'),
  available_credits: Credits.describe('what can be drawn now: live grants less holds less unsettled overage'),
  held_credits: Credits,
  overage_credits: Credits.describe('drawn beyond zero under an overage policy, not yet billed'),
}).openapi('Balance');
