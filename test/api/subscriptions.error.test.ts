import { WorkflowNotFoundError } from '@temporalio/client';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../../src/workflows/messages';
import { createAccount } from '../support/db';
import { expectNoWrites, expectProblem, idem, useApi } from '../support/api';

// A real Temporal dev server and no worker: every request here must be answered before a workflow would run.
const h = useApi({ temporal: 'server' });

async function expectNoWorkflow(subscriptionId: string) {
  await expect(h.env!.client.workflow.getHandle(workflowIdFor(subscriptionId)).describe())
    .rejects.toBeInstanceOf(WorkflowNotFoundError);
}

describe('POST /v1/subscriptions refuses before touching Temporal', () => {
  beforeAll(async () => {
    await createAccount(h.db.sql, 'acc-sub');
  });

  it('an unknown plan → 422 unknown_plan, no workflow, no rows', async () => {
    await expectNoWrites(h, async () => {
      const res = await h.call('POST', '/v1/subscriptions', { key: h.keys.billing,
        body: { subscription_id: 'sub-x', account_id: 'acc-sub', plan_id: 'sms-9999' } });
      expectProblem(res, 422, 'unknown_plan');
    });
    await expectNoWorkflow('sub-x');
  });

  it('an unknown account → 404 not_found, no workflow', async () => {
    await expectNoWrites(h, async () => {
      const res = await h.call('POST', '/v1/subscriptions', { key: h.keys.billing,
        body: { subscription_id: 'sub-y', account_id: 'nobody', plan_id: 'sms-200' } });
      expect(expectProblem(res, 404, 'not_found').detail).toMatch(/nobody/);
    });
    await expectNoWorkflow('sub-y');
  });

  it.each([
    ['an empty body', {}],
    ['a subscription id with a slash', { subscription_id: 'a/b', account_id: 'acc-sub', plan_id: 'sms-200' }],
    ['a subscription id with a colon (it prefixes ledger keys)', { subscription_id: 'a:b', account_id: 'acc-sub', plan_id: 'sms-200' }],
    ['an extra field', { subscription_id: 'sub-z', account_id: 'acc-sub', plan_id: 'sms-200', price_minor: 0 }],
  ])('%s → 400 validation_failed, no workflow', async (_label, body) => {
    await expectNoWrites(h, async () => {
      expectProblem(await h.call('POST', '/v1/subscriptions', { key: h.keys.billing, body }), 400, 'validation_failed');
    });
    await expectNoWorkflow('sub-z');
  });
});

describe('subscription reads and actions', () => {
  it('GET an unknown subscription → 404 not_found (Temporal says so)', async () => {
    expectProblem(await h.call('GET', '/v1/subscriptions/sub-nope', { key: h.keys.support }), 404, 'not_found');
  });

  it.each(['stop-renewal', 'resume-renewal', 'cancel', 'auto-repurchase/resume'])(
    'POST %s on an unknown subscription → 404 not_found', async (action) => {
      await expectNoWrites(h, async () => {
        const res = await h.call('POST', `/v1/subscriptions/sub-nope/${action}`, { key: h.keys.ops, headers: idem('a-1') });
        expectProblem(res, 404, 'not_found');
      });
    });

  it.each(['stop-renewal', 'resume-renewal', 'cancel', 'auto-repurchase/resume'])(
    'POST %s without an Idempotency-Key → 400 validation_failed', async (action) => {
      const p = expectProblem(await h.call('POST', `/v1/subscriptions/sub-nope/${action}`, { key: h.keys.ops }),
        400, 'validation_failed');
      expect(p.errors).toEqual([expect.objectContaining({ in: 'headers', path: ['Idempotency-Key'] })]);
    });

  const post = (action: string, body: unknown, key = h.keys.admin) =>
    h.call('POST', `/v1/subscriptions/sub-nope/${action}`, { key, headers: idem('a-2'), body });

  it('change-plan to an unknown plan → 422 unknown_plan', async () => {
    expectProblem(await post('change-plan', { plan_id: 'gold' }), 422, 'unknown_plan');
  });

  it('bundles with an unknown bundle → 422 unknown_bundle', async () => {
    expectProblem(await post('bundles', { bundle_id: 'sms-payg-1' }), 422, 'unknown_bundle');
  });

  it('alerts on an unknown credit type → 422 unknown_credit_type', async () => {
    expectProblem(await post('alerts', { thresholds: [{ credit_type: 'fax', credits: 10 }], expiring_soon_notice_ms: 0 }),
      422, 'unknown_credit_type');
  });

  it.each([
    ['both credits and a percentage', { thresholds: [{ credit_type: 'sms', credits: 10, percent_of_allotment: 10 }], expiring_soon_notice_ms: 0 }],
    ['neither', { thresholds: [{ credit_type: 'sms' }], expiring_soon_notice_ms: 0 }],
    ['a percentage over 100', { thresholds: [{ credit_type: 'sms', percent_of_allotment: 150 }], expiring_soon_notice_ms: 0 }],
    ['a fractional percentage', { thresholds: [{ credit_type: 'sms', percent_of_allotment: 57.5 }], expiring_soon_notice_ms: 0 }],
    ['a zero percentage', { thresholds: [{ credit_type: 'sms', percent_of_allotment: 0 }], expiring_soon_notice_ms: 0 }],
    ['a negative notice', { thresholds: [], expiring_soon_notice_ms: -1 }],
  ])('alerts with %s → 400 validation_failed', async (_label, body) => {
    expectProblem(await post('alerts', body), 400, 'validation_failed');
  });

  it('auto-repurchase enabled without a bundle → 400 validation_failed on bundle_id', async () => {
    const p = expectProblem(await post('auto-repurchase', { enabled: true, bundle_id: null, trigger_below_credits: 10,
      max_purchases_per_month: 1, max_spend_minor_per_month: 1000 }), 400, 'validation_failed');
    expect(p.errors![0]).toMatchObject({ in: 'body', path: ['bundle_id'] });
  });

  it('auto-repurchase with an unknown bundle → 422 unknown_bundle', async () => {
    expectProblem(await post('auto-repurchase', { enabled: true, bundle_id: 'nope', trigger_below_credits: 10,
      max_purchases_per_month: 1, max_spend_minor_per_month: 1000 }), 422, 'unknown_bundle');
  });

  it('cancel with a blank reason → 400 validation_failed', async () => {
    expectProblem(await post('cancel', { reason: ' ' }), 400, 'validation_failed');
  });
});
