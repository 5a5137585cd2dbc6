import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import type { EnqueueInput } from './deliveries';
import { WEBHOOK_INVALID_EVENT, WebhookGone, WebhookMessageConflict } from './errors';
import { createWebhookService, type WebhookServiceDeps } from './service';

export interface SendWebhookResult {
  /** One per endpoint that wants the event, in endpoint id order. */
  delivery_ids: string[];
  /** Delivered now or by an earlier attempt. */
  delivered: string[];
  /** Nobody to deliver to (410 Gone or a deleted endpoint): an outcome, not a reason to retry. */
  gone: string[];
}

/**
 * Activities for the worker (spread into the main activities object). Call `sendWebhook` with
 * WEBHOOK_ACTIVITY_OPTIONS from retry-policy.ts.
 */
export function createWebhookActivities(deps: WebhookServiceDeps) {
  const webhooks = createWebhookService(deps);
  return {
    /**
     * Enqueues the event for every endpoint that wants it and delivers each. Throws a retryable failure while any
     * delivery fails; a retry re-sends only the undelivered ones, under the same webhook-id.
     */
    async sendWebhook(input: EnqueueInput): Promise<SendWebhookResult> {
      const delivery_ids = await webhooks.enqueue(input).catch((err: unknown) => {
        if (err instanceof ZodError) throw ApplicationFailure.nonRetryable(err.message, WEBHOOK_INVALID_EVENT);
        if (err instanceof WebhookMessageConflict) throw ApplicationFailure.nonRetryable(err.message, err.name);
        throw err;
      });
      const settled = await Promise.allSettled(delivery_ids.map((id) => webhooks.deliver(id)));
      const result: SendWebhookResult = { delivery_ids, delivered: [], gone: [] };
      const failures: string[] = [];
      settled.forEach((s, i) => {
        const id = delivery_ids[i]!;
        if (s.status === 'fulfilled') result.delivered.push(id);
        else if (s.reason instanceof WebhookGone) result.gone.push(id);
        else failures.push(s.reason instanceof Error ? s.reason.message : String(s.reason));
      });
      if (failures.length > 0) {
        throw ApplicationFailure.retryable(
          `${failures.length} of ${delivery_ids.length} webhook deliveries failed: ${failures.join('; ')}`,
          'WebhookDeliveryFailed');
      }
      return result;
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
