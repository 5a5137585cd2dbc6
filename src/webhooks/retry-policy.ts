import type { ActivityOptions, RetryPolicy } from '@temporalio/common';

/**
 * How the subscription workflow should call `sendWebhook`. Types-only imports: safe in the workflow bundle
 * (import this file directly, not src/webhooks/index.ts, which pulls in node:crypto and postgres).
 */

/** Error types (see errors.ts) a retry cannot fix. */
export const WEBHOOK_NON_RETRYABLE_ERROR_TYPES = ['WebhookGone', 'WebhookMessageConflict', 'WebhookInvalidEvent'];

/**
 * Every retry re-enqueues (a no-op) and re-sends only what is not yet delivered. Backoff 1 s, 2 s, 4 s … 256 s:
 * ten attempts span about 8.5 minutes, which rides out a receiver's deploy or brief outage; after that the activity
 * fails and the deliveries stay in webhook_deliveries with their last error, for listDeliveries and a manual resend.
 */
export const WEBHOOK_RETRY_POLICY: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '5 minutes',
  maximumAttempts: 10,
  nonRetryableErrorTypes: WEBHOOK_NON_RETRYABLE_ERROR_TYPES,
};

/** Deliveries to a message's endpoints run in parallel, each bounded by DELIVERY_TIMEOUT_MS (10 s). */
export const WEBHOOK_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: WEBHOOK_RETRY_POLICY,
};
