import { describe, expect, it } from 'vitest';
import {
  createWebhookActivities, deliveryIdFor, WEBHOOK_EVENT_TYPES, WebhookEvent, type WebhookEventType,
} from '../../src/webhooks';
import { sampleEvents } from './support/events';
import { deliveryRow, useWebhookHarness } from './support/harness';

describe('webhooks: delivery', () => {
  const h = useWebhookHarness();

  it('has a sample for every event type, each valid against its schema', () => {
    expect(Object.keys(sampleEvents).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    for (const type of WEBHOOK_EVENT_TYPES) expect(WebhookEvent.parse(sampleEvents[type]('a'))).toEqual(sampleEvents[type]('a'));
  });

  it.each(WEBHOOK_EVENT_TYPES)('delivers %s, signed so that the receiver verifies it with the reference library',
    async (type: WebhookEventType) => {
      const account_id = await h.account();
      const ep = await h.endpoint(account_id);
      const event = sampleEvents[type](account_id);
      const [id, ...more] = await h.webhooks.enqueue({ message_id: `m-${type}-${account_id}`, event });
      expect(more).toEqual([]);
      expect(id).toBe(deliveryIdFor(`m-${type}-${account_id}`, ep.id));

      expect(await h.webhooks.deliver(id!)).toEqual({ delivery_id: id, outcome: 'delivered', attempts: 1 });

      const [got, ...again] = h.receiver.received(ep.path);
      expect(again).toEqual([]);
      expect(got).toMatchObject({ verified: true, status: 200, payload: event });
      expect(got!.headers).toMatchObject({ 'webhook-id': id, 'content-type': 'application/json' });
      expect(got!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(WebhookEvent.parse(got!.payload)).toEqual(event);
      expect(await deliveryRow(h.sql, id!)).toMatchObject({ attempts: 1, last_status: 200, last_error: null,
        delivered_at: expect.any(Date) });
    });

  it('enqueuing the same message id twice records one delivery and sends one POST', async () => {
    const account_id = await h.account();
    const ep = await h.endpoint(account_id);
    const input = { message_id: 'sub-9:balance.low:42', event: sampleEvents['balance.low'](account_id) };

    const first = await h.webhooks.enqueue(input);
    const second = await h.webhooks.enqueue(input);
    expect(second).toEqual(first);
    await h.webhooks.deliver(first[0]!);
    expect(await h.webhooks.deliver(first[0]!)).toMatchObject({ outcome: 'already_delivered', attempts: 1 });
    const { sendWebhook } = createWebhookActivities({ sql: h.sql });
    expect(await sendWebhook(input)).toEqual({ delivery_ids: first, delivered: first, gone: [] });

    expect(h.receiver.received(ep.path)).toHaveLength(1);
    const rows = await h.sql`select id from webhook_deliveries where message_id = ${input.message_id}`;
    expect(rows).toHaveLength(1);
  });

  it("an account's events reach its own endpoints and the global ones, never another account's", async () => {
    const [a, b] = [await h.account('a'), await h.account('b')];
    const [epA, epB, global] = [await h.endpoint(a), await h.endpoint(b), await h.endpoint(null)];

    const forA = await h.webhooks.enqueue({ message_id: `low-${a}`, event: sampleEvents['balance.low'](a) });
    const forB = await h.webhooks.enqueue({ message_id: `low-${b}`, event: sampleEvents['balance.low'](b) });
    expect(forA.sort()).toEqual([deliveryIdFor(`low-${a}`, epA.id), deliveryIdFor(`low-${a}`, global.id)].sort());
    expect(forB.sort()).toEqual([deliveryIdFor(`low-${b}`, epB.id), deliveryIdFor(`low-${b}`, global.id)].sort());
    for (const id of [...forA, ...forB]) await h.webhooks.deliver(id);

    const accountsSeen = (path: string) =>
      h.receiver.received(path).map((r) => (r.payload as WebhookEvent).data.account_id);
    expect(accountsSeen(epA.path)).toEqual([a]);
    expect(accountsSeen(epB.path)).toEqual([b]);
    expect(accountsSeen(global.path).sort()).toEqual([a, b].sort());
    expect(await h.webhooks.listEndpoints({ account_id: a })).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: epA.id }), expect.objectContaining({ id: global.id })]));
    expect((await h.webhooks.listEndpoints({ account_id: a })).map((e) => e.id)).not.toContain(epB.id);
  });

  it('sendWebhook enqueues and delivers to every endpoint that wants the event', async () => {
    const account_id = await h.account();
    const [one, two] = [await h.endpoint(account_id), await h.endpoint(account_id)];
    const { sendWebhook } = createWebhookActivities({ sql: h.sql });
    const result = await sendWebhook({ message_id: `renewed-${account_id}`,
      event: sampleEvents['subscription.renewed'](account_id) });
    expect(result.delivery_ids).toHaveLength(2);
    expect(result).toEqual({ delivery_ids: result.delivery_ids, delivered: result.delivery_ids, gone: [] });
    for (const ep of [one, two]) expect(h.receiver.received(ep.path).map((r) => r.verified)).toEqual([true]);
  });

  it('an event for an account nobody listens to is recorded nowhere and sent nowhere', async () => {
    const account_id = await h.account();
    const { sendWebhook } = createWebhookActivities({ sql: h.sql });
    expect(await sendWebhook({ message_id: `quiet-${account_id}`, event: sampleEvents['balance.low'](account_id) }))
      .toEqual({ delivery_ids: [], delivered: [], gone: [] });
  });

  it('listDeliveries: newest first, by account when asked, at most limit', async () => {
    const [a, b] = [await h.account('la'), await h.account('lb')];
    await h.endpoint(a);
    await h.endpoint(b);
    for (const type of ['balance.low', 'balance.depleted', 'balance.recovered'] as const) {
      await h.webhooks.enqueue({ message_id: `${type}-${a}`, event: sampleEvents[type](a) });
    }
    await h.webhooks.enqueue({ message_id: `low-${b}`, event: sampleEvents['balance.low'](b) });

    const forA = await h.webhooks.listDeliveries({ account_id: a, limit: 10 });
    expect(forA.map((d) => d.event_type)).toEqual(['balance.recovered', 'balance.depleted', 'balance.low']);
    expect(forA[0]).toMatchObject({ account_id: a, message_id: `balance.recovered-${a}`, attempts: 0,
      delivered_at: null, payload: sampleEvents['balance.recovered'](a) });
    expect(await h.webhooks.listDeliveries({ account_id: a, limit: 2 })).toHaveLength(2);
    expect((await h.webhooks.listDeliveries({ limit: 500 })).map((d) => d.account_id)).toEqual(
      expect.arrayContaining([a, b]));
    await expect(h.webhooks.listDeliveries({ limit: 0 })).rejects.toThrow();
    await expect(h.webhooks.listDeliveries({ limit: 501 })).rejects.toThrow();
  });

  it('registering the same id again returns the first registration; another url under that id is refused', async () => {
    const account_id = await h.account();
    const url = h.receiver.url('/same');
    const first = await h.webhooks.registerEndpoint({ id: `ep-${account_id}`, url, account_id });
    expect(await h.webhooks.registerEndpoint({ id: `ep-${account_id}`, url, account_id })).toEqual(first);
    await expect(h.webhooks.registerEndpoint({ id: `ep-${account_id}`, url: h.receiver.url('/other'), account_id }))
      .rejects.toMatchObject({ name: 'WebhookEndpointConflict' });
  });
});
