import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatePaymentFailures, clearPaymentFailures } from '../../src/payments/postgres-invoices';
import { createTemporalSignaler } from '../../src/usage/temporal-signaler';
import { createThresholdDispatcher, type ThresholdDispatcher } from '../../src/usage/threshold-dispatcher';
import { createWebhookService } from '../../src/webhooks';
import { thresholdCrossedSignal, workflowIdFor } from '../../src/workflows/messages';
import { startReceiver, type Receiver } from '../webhooks/support/receiver';
import { DAY_MS, HOUR_MS, SubscriptionHarness } from '../support/subscriptions';

const h = SubscriptionHarness.use();
let receiver: Receiver;
let dispatcher: ThresholdDispatcher;
const meta = (id: string) => ({ request_id: id, by: 'ops@test' });

beforeAll(async () => {
  receiver = await startReceiver();
  const endpoint = await createWebhookService({ sql: h.sql }).registerEndpoint({ url: receiver.url('/hooks'), account_id: null });
  receiver.accept('/hooks', endpoint.secret);
  dispatcher = createThresholdDispatcher({ sql: h.sql, signaler: createTemporalSignaler(h.env.client) });
});
afterAll(async () => {
  await receiver?.close();
});

interface Hook { type: string; data: Record<string, unknown> }
/** Verified deliveries for one subscription, in arrival order (unverified ones would fail the test). */
function hooks(sub: string, type?: string): Hook[] {
  const all = receiver.received('/hooks');
  expect(all.every((r) => r.verified)).toBe(true);
  return all.map((r) => r.payload as Hook)
    .filter((p) => p.data.subscription_id === sub && (!type || p.type === type));
}

async function eventually<T>(check: () => Promise<T> | T, timeout_ms = 15_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A debit at server time, then the outbox delivered, as the usage path does after its commit. */
async function spend(account: string, credits: number, key: string) {
  const r = await h.use(account, 'sms', credits, key);
  expect(r.status).toBe('accepted');
  await dispatcher.dispatchPending(100);
  return r;
}

describe('alerts', () => {
  it('sends low, depleted and recovered once per crossing, signed per Standard Webhooks', async () => {
    await h.account('acc-alert');
    const { view } = await h.start('sub-alert', 'acc-alert', 'sms-200');
    const set = await h.service.setAlerts('sub-alert', { ...meta('alerts-1'), alerts: { thresholds: [
      { credit_type: 'sms', percent_of_allotment: 50 }, { credit_type: 'sms', credits: 20 }], expiring_soon_notice_ms: 7 * DAY_MS } });
    expect(set.ok).toBe(true);
    const [bal] = await h.sql`select alert_thresholds_credits from balances where account_id = 'acc-alert'`;
    expect(bal!.alert_thresholds_credits).toEqual([100, 20, 0]);

    await spend('acc-alert', 120, 'a-1'); // 200 → 80: crosses 100
    await eventually(() => expect(hooks('sub-alert', 'balance.low')).toHaveLength(1));
    expect(hooks('sub-alert', 'balance.low')[0]!.data).toMatchObject({ threshold_credits: 100, available_before_credits: 200,
      available_after_credits: 80, credit_type: 'sms', account_id: 'acc-alert' });

    // The same crossing signalled again (a redelivery) is not acted on twice.
    const [row] = await h.sql<{ id: number }[]>`select id from threshold_crossings where account_id = 'acc-alert'`;
    await h.env.client.workflow.getHandle(workflowIdFor('sub-alert')).signal(thresholdCrossedSignal, {
      crossing_id: row!.id, credit_type: 'sms', threshold_credits: 100, available_before: 200, available_after: 80, crossed_at_ms: 0 });

    await spend('acc-alert', 80, 'a-2'); // 80 → 0: crosses 20 and 0
    await eventually(() => expect(hooks('sub-alert', 'balance.depleted')).toHaveLength(1));
    await eventually(() => expect(hooks('sub-alert', 'balance.low').map((e) => e.data.threshold_credits)).toEqual([100, 20]));
    expect(hooks('sub-alert', 'balance.depleted')[0]!.data).toMatchObject({ available_credits: 0, overage_allowed: false });

    await h.advanceTo(view.current_period!.end_ms + HOUR_MS);
    await eventually(() => expect(hooks('sub-alert', 'balance.recovered')).toHaveLength(1));
    expect(hooks('sub-alert', 'balance.recovered')[0]!.data).toMatchObject({ available_credits: 200, threshold_credits: null });
    expect(hooks('sub-alert', 'subscription.renewed')[0]!.data).toMatchObject({ period_index: 1, price_minor: 2400 });
  });

  it('warns before a bundle expires', async () => {
    await h.account('acc-soon');
    await h.start('sub-soon', 'acc-soon', 'sms-starter');
    const bought = await h.service.buyBundle('sub-soon', { ...meta('soon-b'), bundle_id: 'sms-pack-2y-1000' });
    if (!bought.ok || bought.value.outcome !== 'granted') throw new Error('purchase failed');
    await eventually(() => expect(hooks('sub-soon', 'purchase.succeeded')).toHaveLength(1));
    await h.service.setAlerts('sub-soon', { ...meta('soon-a'), alerts: { thresholds: [], expiring_soon_notice_ms: 7 * DAY_MS } });
    const expires = bought.value.grant.expires_at_ms!;
    await h.advanceTo(expires - 7 * DAY_MS + HOUR_MS);
    await eventually(() => expect(hooks('sub-soon', 'credits.expiring_soon')).toHaveLength(1));
    expect(hooks('sub-soon', 'credits.expiring_soon')[0]!.data).toMatchObject({ expiring_credits: 1000,
      grant_id: bought.value.grant.grant_id, expires_at: new Date(expires).toISOString() });
  });
});

describe('auto-repurchase', () => {
  const settings = (over: object = {}) => ({ enabled: true, bundle_id: 'sms-payg-500', trigger_below_credits: 50,
    max_purchases_per_month: 2, max_spend_minor_per_month: 10_000, ...over });

  it('buys once per crossing, at most N a month, and again in the next calendar month', async () => {
    await h.account('acc-auto', { timeZone: 'UTC' });
    // Start on the 2nd of a month so the test's spending stays inside one calendar month.
    const now = new Date(await h.nowMs());
    await h.advanceTo(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 2, 12));
    await h.start('sub-auto', 'acc-auto', 'sms-200');
    expect((await h.service.setAutoRepurchase('sub-auto', { ...meta('auto-1'), auto_repurchase: settings() })).ok).toBe(true);

    await spend('acc-auto', 160, 'u-1'); // 200 → 40: crosses 50 → buys 500
    await eventually(async () => expect(await h.available('acc-auto', 'sms')).toBe(540));
    const [crossing] = await h.sql<{ id: number }[]>`select id from threshold_crossings where account_id = 'acc-auto' and threshold_credits = 50`;
    for (let i = 0; i < 3; i++) {
      await h.env.client.workflow.getHandle(workflowIdFor('sub-auto')).signal(thresholdCrossedSignal, {
        crossing_id: crossing!.id, credit_type: 'sms', threshold_credits: 50, available_before: 200, available_after: 40, crossed_at_ms: 0 });
    }
    await spend('acc-auto', 500, 'u-2'); // 540 → 40: a new crossing → buys again (2 of 2)
    await eventually(async () => expect(await h.available('acc-auto', 'sms')).toBe(540));
    await spend('acc-auto', 500, 'u-3'); // crosses again: the monthly cap says no
    await eventually(() => expect(hooks('sub-auto', 'balance.low').length).toBe(3));
    const view = await h.view('sub-auto');
    expect(view.purchases.filter((p) => p.auto && p.status === 'succeeded')).toHaveLength(2);
    expect(await h.available('acc-auto', 'sms')).toBe(40);
    expect(hooks('sub-auto', 'purchase.succeeded').every((e) => e.data.auto === true)).toBe(true);

    // Next calendar month the cap resets: the next crossing buys.
    await h.advanceTo(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 2, 1, 1));
    // Still 40 (below the trigger): an ops top-up lifts it, so the next spend is a real crossing.
    await h.sql`select cf_grant('u-top', 'acc-auto', 'sms', 100, 'adjustment', 100, ${new Date(await h.nowMs())}, null, null, null, 'ops', null, '{}')`;
    await spend('acc-auto', 130, 'u-4');
    await eventually(async () => expect((await h.view('sub-auto')).purchases.filter((p) => p.auto)).toHaveLength(3));
  });

  it('stops at the monthly spend limit', async () => {
    await h.account('acc-spend');
    await h.start('sub-spend', 'acc-spend', 'sms-200');
    await h.service.setAutoRepurchase('sub-spend', { ...meta('sp-1'), auto_repurchase: settings({ max_purchases_per_month: 10,
      max_spend_minor_per_month: 4_000 }) });
    await spend('acc-spend', 160, 'sp-u1');
    await eventually(async () => expect(await h.available('acc-spend', 'sms')).toBe(540));
    await spend('acc-spend', 500, 'sp-u2'); // a second 2,500 would exceed 4,000 this month
    await eventually(() => expect(hooks('sub-spend', 'balance.low')).toHaveLength(2));
    expect((await h.view('sub-spend')).purchases).toHaveLength(1);
    expect(await h.available('acc-spend', 'sms')).toBe(40);
  });

  it('a declined payment alerts and pauses auto-repurchase until ops resume it', async () => {
    await h.account('acc-pause');
    await h.start('sub-pause', 'acc-pause', 'sms-200');
    await h.service.setAutoRepurchase('sub-pause', { ...meta('p-1'), auto_repurchase: settings({ max_purchases_per_month: 10 }) });
    await simulatePaymentFailures(h.sql, 'acc-pause', null);
    await spend('acc-pause', 160, 'p-u1');
    await eventually(() => expect(hooks('sub-pause', 'purchase.failed')).toHaveLength(1));
    expect(hooks('sub-pause', 'purchase.failed')[0]!.data).toMatchObject({ auto: true, reason: 'card_declined' });
    await eventually(async () => expect((await h.view('sub-pause')).auto_repurchase.paused).toBe(true));
    await clearPaymentFailures(h.sql, 'acc-pause');
    // Paused: a new crossing alerts but buys nothing.
    await h.sql`select cf_grant('p-top', 'acc-pause', 'sms', 100, 'adjustment', 100, ${new Date(await h.nowMs())}, null, null, null, 'ops', null, '{}')`;
    await spend('acc-pause', 100, 'p-u2'); // 140 → 40
    await eventually(() => expect(hooks('sub-pause', 'balance.low')).toHaveLength(2));
    expect((await h.invoices('acc-pause')).filter((i) => i.description.startsWith('bundle'))).toHaveLength(1);
    expect(await h.service.resumeAutoRepurchase('sub-pause', meta('p-r'))).toMatchObject({ ok: true, value: { auto_repurchase: { paused: false } } });
    await h.sql`select cf_grant('p-top2', 'acc-pause', 'sms', 100, 'adjustment', 100, ${new Date(await h.nowMs())}, null, null, null, 'ops', null, '{}')`;
    await spend('acc-pause', 100, 'p-u3');
    await eventually(async () => expect(await h.available('acc-pause', 'sms')).toBe(540));
  });
});
