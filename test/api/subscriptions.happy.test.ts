import { describe, expect, it } from 'vitest';
import { simulatePaymentFailures } from '../../src/payments/postgres-invoices';
import { PLAN_ID } from '../../src/workflows/search-attributes';
import { expectNoWrites, expectProblem, idem, useApi } from '../support/api';

// End to end over HTTP: a real Temporal dev server and a real creditflow worker.
const h = useApi({ temporal: 'worker' });

async function account(id: string, country = 'US') {
  const res = await h.call('POST', '/v1/accounts', { key: h.keys.billing,
    body: { id, name: id, time_zone: 'America/New_York', country } });
  expect(res.status).toBe(201);
}

async function start(subscription_id: string, account_id: string, plan_id: string) {
  return h.call('POST', '/v1/subscriptions', { key: h.keys.billing, body: { subscription_id, account_id, plan_id } });
}

const act = (id: string, action: string, key: string, body?: unknown, apiKey = h.keys.ops) =>
  h.call('POST', `/v1/subscriptions/${id}/${action}`, { key: apiKey, headers: idem(key), body });

describe('subscriptions over HTTP', () => {
  it('starts a subscription: 201 active, credits granted, visible on the account and the subscription', async () => {
    await account('e2e-1');
    const res = await start('e2e-sub-1', 'e2e-1', 'sms-200');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ subscription_id: 'e2e-sub-1', account_id: 'e2e-1', plan_id: 'sms-200',
      status: 'active', renewal_enabled: true, time_zone: 'America/New_York',
      grants: [expect.objectContaining({ credit_type: 'sms', amount_credits: 200, source: 'plan_allotment' })] });

    const acc = await h.call('GET', '/v1/accounts/e2e-1', { key: h.keys.support });
    expect(acc.body.balances).toEqual([expect.objectContaining({ credit_type: 'sms', available_credits: 200 })]);
    expect(acc.body.subscriptions).toEqual([expect.objectContaining({ id: 'e2e-sub-1', plan_id: 'sms-200', status: 'active' })]);

    const detail = await h.call('GET', '/v1/subscriptions/e2e-sub-1', { key: h.keys.ingest });
    expect(detail.status).toBe(200);
    expect(detail.body.subscription.current_period).toEqual(res.body.current_period);
    expect(detail.body.balances).toEqual([expect.objectContaining({ credit_type: 'sms', available_credits: 200 })]);
  });

  it('support finds an account\'s workflows in Temporal by search attribute', async () => {
    await account('e2e-sa');
    expect((await start('e2e-sub-sa', 'e2e-sa', 'sms-200')).status).toBe(201);
    const found = async () => {
      const rows = [];
      for await (const wf of h.env!.client.workflow.list({ query: `CreditflowAccountId = 'e2e-sa' AND CreditflowStatus = 'active'` })) rows.push(wf);
      return rows;
    };
    // Visibility is eventually consistent: poll briefly.
    let rows = await found();
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rows = await found();
    }
    expect(rows.map((w) => [w.workflowId, w.typedSearchAttributes.get(PLAN_ID)])).toEqual([['subscription/e2e-sub-sa', 'sms-200']]);
  });

  it('starting again with the same terms answers the same subscription; other terms are a 409', async () => {
    await account('e2e-2');
    const first = await start('e2e-sub-2', 'e2e-2', 'sms-200');
    const again = await start('e2e-sub-2', 'e2e-2', 'sms-200');
    expect(again.status).toBe(201);
    expect(again.body.current_period).toEqual(first.body.current_period);
    await expectNoWrites(h, async () => {
      expectProblem(await start('e2e-sub-2', 'e2e-2', 'sms-10000'), 409, 'terms_conflict');
    });
    const invoices = await h.db.sql`select count(*)::int as n from invoices where account_id = 'e2e-2'`;
    expect(invoices[0]!.n).toBe(1);
  });

  it('a declined first charge is a 402 payment_failed carrying the subscription; nothing is granted', async () => {
    await account('e2e-3');
    await simulatePaymentFailures(h.db.sql, 'e2e-3', null);
    const res = await start('e2e-sub-3', 'e2e-3', 'sms-200');
    const p = expectProblem(res, 402, 'payment_failed');
    expect(p.subscription).toMatchObject({ status: 'payment_failed', grants: [] });
    const grants = await h.db.sql`select count(*)::int as n from grants where account_id = 'e2e-3'`;
    expect(grants[0]!.n).toBe(0);
  });

  it('stops, resumes, changes plan and cancels; a repeated Idempotency-Key answers the first result', async () => {
    await account('e2e-4');
    await start('e2e-sub-4', 'e2e-4', 'sms-200');
    const stopped = await act('e2e-sub-4', 'stop-renewal', 'stop-1');
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ status: 'renewal_stopped', renewal_enabled: false });
    const replay = await act('e2e-sub-4', 'stop-renewal', 'stop-1');
    expect(replay).toMatchObject({ status: 200, body: stopped.body });
    expectProblem(await act('e2e-sub-4', 'stop-renewal', 'stop-2'), 409, 'already_stopped');

    const resumed = await act('e2e-sub-4', 'resume-renewal', 'resume-1');
    expect(resumed.body).toMatchObject({ status: 'active', renewal_enabled: true });
    expectProblem(await act('e2e-sub-4', 'resume-renewal', 'resume-2'), 409, 'not_stopped');

    const changed = await act('e2e-sub-4', 'change-plan', 'plan-1', { plan_id: 'sms-1000-rollover' });
    expect(changed.body).toMatchObject({ plan_id: 'sms-200', pending_plan_id: 'sms-1000-rollover' });
    expectProblem(await act('e2e-sub-4', 'change-plan', 'plan-2', { plan_id: 'sms-pack-none' }), 422, 'unknown_plan');

    const cancelled = await act('e2e-sub-4', 'cancel', 'cancel-1', { reason: 'customer asked' });
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });
    expectProblem(await act('e2e-sub-4', 'cancel', 'cancel-2', {}), 409, 'not_active');
    const acc = await h.call('GET', '/v1/accounts/e2e-4', { key: h.keys.support });
    expect(acc.body.balances).toEqual([expect.objectContaining({ credit_type: 'sms', available_credits: 0 })]);
  });

  it('one Idempotency-Key reused for two different actions does both, never answering one with the other', async () => {
    await account('e2e-8');
    await start('e2e-sub-8', 'e2e-8', 'sms-200');
    expect((await act('e2e-sub-8', 'stop-renewal', 'same-key')).body.status).toBe('renewal_stopped');
    const cancelled = await act('e2e-sub-8', 'cancel', 'same-key', {});
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
  });

  it('buys a bundle (201 with the grant); refuses one the account may not buy (422 not_eligible)', async () => {
    await account('e2e-5', 'DE');
    await start('e2e-sub-5', 'e2e-5', 'sms-200');
    const bought = await act('e2e-sub-5', 'bundles', 'buy-1', { bundle_id: 'sms-payg-500' }, h.keys.billing);
    expect(bought.status, JSON.stringify(bought.body)).toBe(201);
    expect(bought.body).toMatchObject({
      purchase: { bundle_id: 'sms-payg-500', status: 'succeeded', purchased_by: 'test-billing', request_id: 'buy-bundle:buy-1' },
      grant: { credit_type: 'sms', amount_credits: 500, source: 'bundle' },
    });
    const replay = await act('e2e-sub-5', 'bundles', 'buy-1', { bundle_id: 'sms-payg-500' }, h.keys.billing);
    expect(replay.body).toEqual(bought.body);
    const acc = await h.call('GET', '/v1/accounts/e2e-5', { key: h.keys.support });
    expect(acc.body.balances).toEqual([expect.objectContaining({ credit_type: 'sms', available_credits: 700 })]);

    await expectNoWrites(h, async () => {
      const p = expectProblem(await act('e2e-sub-5', 'bundles', 'buy-2', { bundle_id: 'minutes-local-5k' }, h.keys.billing),
        422, 'not_eligible');
      expect(p.detail).toMatch(/US, CA/);
    });
  });

  it('a declined bundle charge is a 402 payment_failed carrying the purchase; nothing is granted', async () => {
    await account('e2e-6');
    await start('e2e-sub-6', 'e2e-6', 'sms-200');
    await simulatePaymentFailures(h.db.sql, 'e2e-6', 1);
    const res = await act('e2e-sub-6', 'bundles', 'buy-f', { bundle_id: 'sms-payg-500' }, h.keys.billing);
    const p = expectProblem(res, 402, 'payment_failed');
    expect(p.purchase).toMatchObject({ status: 'failed', grant_id: null, bundle_id: 'sms-payg-500' });
    const acc = await h.call('GET', '/v1/accounts/e2e-6', { key: h.keys.support });
    expect(acc.body.balances).toEqual([expect.objectContaining({ credit_type: 'sms', available_credits: 200 })]);
  });

  it('a free plan cannot buy bundles that need a paid one', async () => {
    await account('e2e-7');
    expect((await start('e2e-sub-7', 'e2e-7', 'sms-starter')).status).toBe(201);
    expectProblem(await act('e2e-sub-7', 'bundles', 'buy-x', { bundle_id: 'sms-payg-500' }, h.keys.billing), 422, 'not_eligible');
  });

  it('ops set alert thresholds and auto-repurchase; the thresholds reach the balance the debit SQL checks', async () => {
    await account('e2e-al');
    expect((await start('e2e-sub-al', 'e2e-al', 'sms-200')).status).toBe(201);
    const alerts = await act('e2e-sub-al', 'alerts', 'al-1', { thresholds: [{ credit_type: 'sms', percent_of_allotment: 25 }],
      expiring_soon_notice_ms: 86_400_000 });
    expect(alerts.status, JSON.stringify(alerts.body)).toBe(200);
    expect(alerts.body.alerts.thresholds).toEqual([{ credit_type: 'sms', percent_of_allotment: 25 }]);
    const auto = await act('e2e-sub-al', 'auto-repurchase', 'ar-1', { enabled: true, bundle_id: 'sms-payg-500',
      trigger_below_credits: 10, max_purchases_per_month: 3, max_spend_minor_per_month: 10_000 });
    expect(auto.status, JSON.stringify(auto.body)).toBe(200);
    expect(auto.body.auto_repurchase).toMatchObject({ enabled: true, bundle_id: 'sms-payg-500', paused: false });
    const [bal] = await h.db.sql`select alert_thresholds_credits, notify_workflow_id from balances where account_id = 'e2e-al'`;
    expect(bal).toEqual({ alert_thresholds_credits: [50, 10, 0], notify_workflow_id: 'subscription/e2e-sub-al' });
    // Refusals are answers with stable codes, and change nothing.
    await expectNoWrites(h, async () => {
      expectProblem(await act('e2e-sub-al', 'auto-repurchase', 'ar-2', { enabled: true, bundle_id: 'nope',
        trigger_below_credits: 10, max_purchases_per_month: 3, max_spend_minor_per_month: 10_000 }), 422, 'unknown_bundle');
      expectProblem(await act('e2e-sub-al', 'alerts', 'al-2', { thresholds: [{ credit_type: 'voice_local_min', percent_of_allotment: 10 }],
        expiring_soon_notice_ms: 0 }), 422, 'invalid_settings');
      expectProblem(await act('e2e-sub-al', 'auto-repurchase/resume', 'ar-3'), 422, 'invalid_settings');
    });
  });
});
