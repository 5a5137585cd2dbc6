import type { WebhookEventOf, WebhookEventType } from '../../../src/webhooks';

const at = '2026-03-01T12:00:00.000Z';

/** One realistic event of every type; the mapped type makes leaving one out a compile error. */
export const sampleEvents: { [T in WebhookEventType]: (account_id: string) => WebhookEventOf<T> } = {
  'balance.low': (account_id) => ({
    type: 'balance.low', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', credit_type: 'sms', threshold_credits: 100,
      available_before_credits: 120, available_after_credits: 90 },
  }),
  'balance.depleted': (account_id) => ({
    type: 'balance.depleted', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', credit_type: 'sms', available_credits: 0, overage_allowed: false,
      overage_credits: 0 },
  }),
  'balance.recovered': (account_id) => ({
    type: 'balance.recovered', timestamp: at,
    data: { account_id, subscription_id: null, credit_type: 'sms', available_credits: 5_000, threshold_credits: 100 },
  }),
  'balance.forecast_low': (account_id) => ({
    type: 'balance.forecast_low', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', credit_type: 'voice_minutes', available_credits: 300,
      burn_rate_credits_per_day: 40, depletes_at: '2026-03-08T12:00:00.000Z', next_renewal_at: '2026-04-01T00:00:00.000Z' },
  }),
  'credits.expiring_soon': (account_id) => ({
    type: 'credits.expiring_soon', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', credit_type: 'sms', grant_id: '7d1c9f36-5c1e-4a47-9c55-0d7d5e0b5a11',
      source: 'rollover', expiring_credits: 250, expires_at: '2026-03-08T00:00:00.000Z' },
  }),
  'purchase.succeeded': (account_id) => ({
    type: 'purchase.succeeded', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', request_id: 'req-1', bundle_id: 'sms-1k', purchased_by: 'ana@example.com',
      auto: false, price_minor: 1_500, currency: 'EUR', credit_type: 'sms', amount_credits: 1_000,
      grant_id: '0b8f2b1e-8f0a-4c55-a7b4-3b1d0c2f9e10', invoice_id: '5a0f7c2e-1d9b-4e61-8f3a-2c4b6d8e0f12' },
  }),
  'purchase.failed': (account_id) => ({
    type: 'purchase.failed', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', request_id: 'auto-2026-03-1', bundle_id: 'sms-1k',
      purchased_by: 'auto-repurchase', auto: true, price_minor: 1_500, currency: 'EUR', invoice_id: null,
      reason: 'card_declined' },
  }),
  'subscription.renewed': (account_id) => ({
    type: 'subscription.renewed', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', plan_id: 'pro', period_index: 3,
      period_start: '2026-03-01T00:00:00.000Z', period_end: '2026-04-01T00:00:00.000Z',
      invoice_id: '9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a', price_minor: 4_900, currency: 'USD',
      granted: [
        { grant_id: 'c1f0e2d3-0000-4000-8000-000000000001', credit_type: 'sms', source: 'plan_allotment', amount_credits: 10_000 },
        { grant_id: 'c1f0e2d3-0000-4000-8000-000000000002', credit_type: 'sms', source: 'rollover', amount_credits: 1_200 },
      ] },
  }),
  'subscription.ended': (account_id) => ({
    type: 'subscription.ended', timestamp: at,
    data: { account_id, subscription_id: 'sub-1', plan_id: 'pro', reason: 'period_ended' },
  }),
};
