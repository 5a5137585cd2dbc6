import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createWebhookService, WebhookDeliveryFailed, type WebhookService } from '../../src/webhooks';
import { sampleEvents } from './support/events';
import { deliveryRow, useWebhookHarness } from './support/harness';

type Tamper = (req: { headers: Record<string, string>; body: string }) => { headers: Record<string, string>; body: string };

/** The real fetch, with the request altered on its way out: what a man in the middle would do. */
function tamperingFetch(tamper: Tamper): typeof globalThis.fetch {
  return (async (url: string, init: RequestInit) => {
    const altered = tamper({ headers: init.headers as Record<string, string>, body: init.body as string });
    return globalThis.fetch(url, { ...init, ...altered });
  }) as typeof globalThis.fetch;
}

const flipLastChar = (s: string) => s.slice(0, -2) + (s.at(-2) === 'A' ? 'B' : 'A') + s.slice(-1);

describe('webhooks: security', () => {
  const h = useWebhookHarness();

  async function sendVia(service: WebhookService) {
    const account_id = await h.account();
    const ep = await h.endpoint(account_id, service);
    const [id] = await service.enqueue({ message_id: `sec-${account_id}`,
      event: sampleEvents['purchase.succeeded'](account_id) });
    const outcome = await service.deliver(id!).catch((e: unknown) => e);
    return { ep, id: id!, outcome, received: h.receiver.received(ep.path) };
  }

  it.each<[string, Tamper]>([
    ['a tampered signature', (r) => ({ ...r,
      headers: { ...r.headers, 'webhook-signature': flipLastChar(r.headers['webhook-signature']!) } })],
    ['a tampered body', (r) => ({ ...r, body: r.body.replace('"amount_credits":1000', '"amount_credits":9000') })],
    ['a tampered webhook-id', (r) => ({ ...r, headers: { ...r.headers, 'webhook-id': 'msg_someone_else' } })],
    ['a tampered timestamp', (r) => ({ ...r,
      headers: { ...r.headers, 'webhook-timestamp': String(Number(r.headers['webhook-timestamp']) - 1) } })],
  ])('%s fails verification on the receiver, and the delivery is a retryable failure', async (_, tamper) => {
    const { id, outcome, received } = await sendVia(createWebhookService({ sql: h.sql, fetch: tamperingFetch(tamper) }));
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ verified: false, verify_error: 'No matching signature found', status: 401 });
    expect(outcome).toBeInstanceOf(WebhookDeliveryFailed);
    expect(await deliveryRow(h.sql, id)).toMatchObject({ last_status: 401, delivered_at: null });
  });

  it("a delivery does not verify with another endpoint's secret", async () => {
    const { received } = await sendVia(h.webhooks);
    const other = await h.endpoint(await h.account());
    expect(received[0]!.verified).toBe(true);
    expect(() => new Webhook(other.secret).verify(received[0]!.body, received[0]!.headers))
      .toThrow('No matching signature found');
  });

  it('a delivery signed with a clock more than five minutes off is refused as a replay', async () => {
    const tenMinutesAgo = () => new Date(Date.now() - 10 * 60_000);
    const { outcome, received } = await sendVia(createWebhookService({ sql: h.sql, now: tenMinutesAgo }));
    expect(received[0]).toMatchObject({ verified: false, verify_error: 'Message timestamp too old' });
    expect(outcome).toBeInstanceOf(WebhookDeliveryFailed);
  });

  it('a redirect is not followed: the signed payload goes only to the registered URL', async () => {
    const account_id = await h.account();
    const ep = await h.endpoint(account_id);
    const elsewhere = await h.endpoint(null);
    h.receiver.script(ep.path, { status: 307, location: elsewhere.path });
    await h.webhooks.deleteEndpoint(elsewhere.id);
    const [id] = await h.webhooks.enqueue({ message_id: `redirect-${account_id}`,
      event: sampleEvents['balance.low'](account_id) });

    await expect(h.webhooks.deliver(id!)).rejects.toMatchObject({ name: 'WebhookDeliveryFailed', http_status: 307 });
    expect(h.receiver.received(elsewhere.path)).toEqual([]);
  });

  it('secrets are whsec_ + base64 of 32 random bytes, one per endpoint, and only registration reveals them', async () => {
    const account_id = await h.account();
    const [a, b] = [await h.endpoint(account_id), await h.endpoint(account_id)];
    for (const { secret } of [a, b]) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    }
    expect(a.secret).not.toBe(b.secret);
    const listed = (await h.webhooks.listEndpoints({ account_id })).filter((e) => e.account_id === account_id);
    expect(listed.map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
    for (const ep of listed) expect(ep).not.toHaveProperty('secret');
    expect(JSON.stringify(await h.webhooks.listEndpoints())).not.toContain('whsec_');
  });

  it('only http(s) URLs can be registered', async () => {
    for (const url of ['ftp://example.com/hook', 'file:///etc/passwd', 'not a url', 'javascript:alert(1)']) {
      await expect(h.webhooks.registerEndpoint({ url, account_id: null })).rejects.toMatchObject({ name: 'ZodError' });
    }
  });
});
