/**
 * Errors a delivery can end in. Temporal turns a thrown Error into an ApplicationFailure whose type is the error's
 * `name`, so these names are the contract with the retry policy (retry-policy.ts). Pure: no Node imports.
 */

/** The receiver answered something other than 2xx, or did not answer in time. Retryable: try again later. */
export class WebhookDeliveryFailed extends Error {
  override readonly name = 'WebhookDeliveryFailed';
  constructor(
    readonly delivery_id: string,
    /** The HTTP status, or null when there was no response (refused, reset, timed out). */
    readonly http_status: number | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * There is no one to deliver to: the receiver answered 410 Gone (and its endpoint is now disabled), the endpoint was
 * deleted, or the delivery does not exist. Not retryable: the activity layer maps it to
 * ApplicationFailure.nonRetryable, and WEBHOOK_RETRY_POLICY lists it in nonRetryableErrorTypes as well.
 */
export class WebhookGone extends Error {
  override readonly name = 'WebhookGone';
  constructor(
    readonly delivery_id: string,
    readonly reason: 'gone' | 'deleted' | 'unknown_delivery',
    message: string,
  ) {
    super(message);
  }
}

/**
 * A message id was enqueued again with a different event. Message ids are idempotency keys: the first event stays,
 * and the second would be silently lost, so this is loud and never retried (a retry would send the same input).
 */
export class WebhookMessageConflict extends Error {
  override readonly name = 'WebhookMessageConflict';
  constructor(readonly message_id: string) {
    super(`webhook message ${message_id} was already enqueued with a different event`);
  }
}

/** The event does not match its schema: a bug in the sender, which no retry fixes. */
export const WEBHOOK_INVALID_EVENT = 'WebhookInvalidEvent';
