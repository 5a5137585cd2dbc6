import { createServer } from 'node:net';
import { ApplicationFailure, compileRetryPolicy } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  createWebhookActivities, createWebhookService, WEBHOOK_ACTIVITY_OPTIONS, WEBHOOK_NON_RETRYABLE_ERROR_TYPES,
  WEBHOOK_RETRY_POLICY, WebhookDeliveryFailed, WebhookGone, WebhookMessageConflict,
} from '../../src/webhooks';
import { sampleEvents } from './support/events';
import { deliveryRow, useWebhookHarness } from './support/harness';

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('webhooks: failures', () => {
  const h = useWebhookHarness();

  it('a receiver answering 500 twice then 200: deliver throws twice, then succeeds, with three attempts recorded',
    async () => {
      const account_id = await h.account();
      const ep = await h.endpoint(account_id);
      h.receiver.script(ep.path, 500, 500, 200);
      const [id] = await h.webhooks.enqueue({ message_id: `flaky-${account_id}`,
        event: sampleEvents['purchase.succeeded'](account_id) });

      for (const attempt of [1, 2]) {
        const err = await h.webhooks.deliver(id!).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WebhookDeliveryFailed);
        expect(err).toMatchObject({ name: 'WebhookDeliveryFailed', delivery_id: id, http_status: 500 });
        expect(await deliveryRow(h.sql, id!)).toEqual({ attempts: attempt, last_status: 500,
          last_error: 'HTTP 500: answer 500', delivered_at: null });
      }
      expect(await h.webhooks.deliver(id!)).toEqual({ delivery_id: id, outcome: 'delivered', attempts: 3 });
      expect(await deliveryRow(h.sql, id!)).toMatchObject({ attempts: 3, last_status: 200, last_error: null,
        delivered_at: expect.any(Date) });

      const posts = h.receiver.received(ep.path);
      expect(posts.map((p) => p.status)).toEqual([500, 500, 200]);
      expect(new Set(posts.map((p) => p.headers['webhook-id']))).toEqual(new Set([id]));
      expect(posts.every((p) => p.verified)).toBe(true);
    });

  it('a 410 Gone ends in WebhookGone, disables the endpoint, and later messages skip it', async () => {
    const account_id = await h.account();
    const ep = await h.endpoint(account_id);
    h.receiver.script(ep.path, 410);
    const [id] = await h.webhooks.enqueue({ message_id: `gone-${account_id}`,
      event: sampleEvents['balance.depleted'](account_id) });

    await expect(h.webhooks.deliver(id!)).rejects.toMatchObject({ name: 'WebhookGone', reason: 'gone' });
    expect(await deliveryRow(h.sql, id!)).toMatchObject({ attempts: 1, last_status: 410, delivered_at: null });
    await expect(h.webhooks.deliver(id!)).rejects.toBeInstanceOf(WebhookGone);
    expect(h.receiver.received(ep.path)).toHaveLength(1);
    expect(await deliveryRow(h.sql, id!)).toMatchObject({ attempts: 1, last_status: 410,
      last_error: `endpoint ${ep.id} is gone` });
    expect(await h.webhooks.listEndpoints({ account_id })).toEqual([expect.objectContaining({
      id: ep.id, disabled_reason: 'gone', disabled_at: expect.any(String) })]);
    expect(await h.webhooks.enqueue({ message_id: `after-gone-${account_id}`,
      event: sampleEvents['balance.low'](account_id) })).toEqual([]);
  });

  it('a delivery to a deleted endpoint ends in WebhookGone without a POST', async () => {
    const account_id = await h.account();
    const ep = await h.endpoint(account_id);
    const [id] = await h.webhooks.enqueue({ message_id: `deleted-${account_id}`,
      event: sampleEvents['subscription.ended'](account_id) });
    expect(await h.webhooks.deleteEndpoint(ep.id)).toMatchObject({ id: ep.id, disabled_reason: 'deleted' });

    await expect(h.webhooks.deliver(id!)).rejects.toMatchObject({ name: 'WebhookGone', reason: 'deleted' });
    expect(await deliveryRow(h.sql, id!)).toMatchObject({ attempts: 0, last_error: `endpoint ${ep.id} is deleted` });
    expect(h.receiver.received(ep.path)).toEqual([]);
    expect(await h.webhooks.deleteEndpoint('no-such-endpoint')).toBeNull();
    await expect(h.webhooks.deliver('msg_unknown')).rejects.toMatchObject({ name: 'WebhookGone',
      reason: 'unknown_delivery' });
  });

  it('a receiver that does not answer within the timeout is a retryable failure, its reason recorded', async () => {
    const account_id = await h.account();
    const impatient = createWebhookService({ sql: h.sql, timeout_ms: 200 });
    const ep = await h.endpoint(account_id, impatient);
    h.receiver.script(ep.path, 'hang');
    const [id] = await impatient.enqueue({ message_id: `slow-${account_id}`,
      event: sampleEvents['balance.low'](account_id) });

    await expect(impatient.deliver(id!)).rejects.toMatchObject({ name: 'WebhookDeliveryFailed', http_status: null });
    expect(await deliveryRow(h.sql, id!)).toMatchObject({ attempts: 1, last_status: null,
      last_error: expect.stringMatching(/TimeoutError/) });
    expect(await impatient.deliver(id!)).toMatchObject({ outcome: 'delivered', attempts: 2 });
  });

  it('an unreachable receiver is a retryable failure', async () => {
    const account_id = await h.account();
    const ep = await h.webhooks.registerEndpoint({ url: `http://127.0.0.1:${await closedPort()}/x`, account_id });
    const [id] = await h.webhooks.enqueue({ message_id: `down-${account_id}`,
      event: sampleEvents['balance.low'](account_id) });
    await expect(h.webhooks.deliver(id!)).rejects.toBeInstanceOf(WebhookDeliveryFailed);
    expect(await deliveryRow(h.sql, id!)).toMatchObject({ attempts: 1, last_status: null,
      last_error: expect.stringMatching(/ECONNREFUSED/) });
    await h.webhooks.deleteEndpoint(ep.id);
  });

  it('sendWebhook: a gone endpoint is an outcome, a failing one makes the activity retry, and the retry resends only it',
    async () => {
      const account_id = await h.account();
      const [gone, flaky, fine] = [await h.endpoint(account_id), await h.endpoint(account_id), await h.endpoint(account_id)];
      h.receiver.script(gone.path, 410);
      h.receiver.script(flaky.path, 503);
      const { sendWebhook } = createWebhookActivities({ sql: h.sql });
      const input = { message_id: `mixed-${account_id}`, event: sampleEvents['purchase.failed'](account_id) };

      const failure = await sendWebhook(input).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: 'WebhookDeliveryFailed', nonRetryable: false });
      expect((failure as Error).message).toMatch(/^1 of 3 webhook deliveries failed: .*HTTP 503/);

      const result = await sendWebhook(input);
      expect(result.delivery_ids).toHaveLength(3);
      expect(result.gone).toHaveLength(1);
      expect(result.delivered).toHaveLength(2);
      expect(h.receiver.received(gone.path).map((r) => r.status)).toEqual([410]);
      expect(h.receiver.received(flaky.path).map((r) => r.status)).toEqual([503, 200]);
      expect(h.receiver.received(fine.path).map((r) => r.status)).toEqual([200]);
    });

  it('an event that does not match its schema is refused before anything is recorded, and never retried', async () => {
    const account_id = await h.account();
    await h.endpoint(account_id);
    const bad = { message_id: `bad-${account_id}`, event: { ...sampleEvents['balance.low'](account_id),
      data: { ...sampleEvents['balance.low'](account_id).data, threshold_credits: 1.5 } } };
    await expect(h.webhooks.enqueue(bad)).rejects.toMatchObject({ name: 'ZodError' });
    const { sendWebhook } = createWebhookActivities({ sql: h.sql });
    await expect(sendWebhook(bad)).rejects.toMatchObject({ type: 'WebhookInvalidEvent', nonRetryable: true });
    await expect(sendWebhook({ message_id: 'x', event: { type: 'balance.exploded', timestamp: 'now', data: {} } } as never))
      .rejects.toMatchObject({ type: 'WebhookInvalidEvent', nonRetryable: true });
    expect(await h.webhooks.listDeliveries({ account_id, limit: 10 })).toEqual([]);
  });

  it('the same message id with a different event is a conflict, not a silent drop', async () => {
    const account_id = await h.account();
    await h.endpoint(account_id);
    const event = sampleEvents['balance.low'](account_id);
    await h.webhooks.enqueue({ message_id: `dup-${account_id}`, event });
    const other = { ...event, data: { ...event.data, available_after_credits: 80 } };
    await expect(h.webhooks.enqueue({ message_id: `dup-${account_id}`, event: other }))
      .rejects.toBeInstanceOf(WebhookMessageConflict);
    const { sendWebhook } = createWebhookActivities({ sql: h.sql });
    await expect(sendWebhook({ message_id: `dup-${account_id}`, event: other }))
      .rejects.toMatchObject({ type: 'WebhookMessageConflict', nonRetryable: true });

    const elsewhere = await h.account();
    await h.endpoint(elsewhere);
    await expect(h.webhooks.enqueue({ message_id: `dup-${account_id}`, event: sampleEvents['balance.low'](elsewhere) }))
      .rejects.toBeInstanceOf(WebhookMessageConflict);
    expect(await h.webhooks.listDeliveries({ account_id: elsewhere, limit: 10 })).toEqual([]);
  });

  it('the retry policy is valid for Temporal and names every error a retry cannot fix', () => {
    expect(() => compileRetryPolicy(WEBHOOK_RETRY_POLICY)).not.toThrow();
    expect(WEBHOOK_ACTIVITY_OPTIONS.retry).toBe(WEBHOOK_RETRY_POLICY);
    expect(WEBHOOK_NON_RETRYABLE_ERROR_TYPES).toEqual(expect.arrayContaining([
      new WebhookGone('d', 'gone', '').name, new WebhookMessageConflict('m').name, 'WebhookInvalidEvent']));
    expect(WEBHOOK_NON_RETRYABLE_ERROR_TYPES).not.toContain(new WebhookDeliveryFailed('d', 500, '').name);
  });
});
