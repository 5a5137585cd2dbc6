import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { loadCatalog } from '../../src/catalog/catalog';
import { debit } from '../../src/ledger';
import { createPostgresInvoicePayments } from '../../src/payments/postgres-invoices';
import { HOUR_MS, SubscriptionHarness } from '../support/subscriptions';

const h = SubscriptionHarness.use();
const meta = (id: string) => ({ request_id: id, by: 'ops@test' });

async function renewTimes(sub: string, n: number) {
  for (let i = 0; i < n; i++) {
    const v = await h.view(sub);
    await h.advanceTo(v.current_period!.end_ms + HOUR_MS);
  }
}

describe('billing edges', () => {
  it('a monthly plan changed to an annual one is charged the year at the change, then not for 11 periods', async () => {
    await h.account('acc-m2a');
    await h.start('sub-m2a', 'acc-m2a', 'sms-200');
    await h.service.changePlan('sub-m2a', { ...meta('m2a'), plan_id: 'sms-addon-annual' });
    await renewTimes('sub-m2a', 3);
    expect((await h.invoices('acc-m2a')).map((i) => i.amount_minor)).toEqual([2400, 48000]);
    expect((await h.view('sub-m2a')).plan_id).toBe('sms-addon-annual');
  });

  it('an annual plan changed to a monthly one finishes its paid year first', async () => {
    await h.account('acc-a2m');
    await h.start('sub-a2m', 'acc-a2m', 'sms-addon-annual');
    await renewTimes('sub-a2m', 2);
    await h.service.changePlan('sub-a2m', { ...meta('a2m'), plan_id: 'sms-200' });
    await renewTimes('sub-a2m', 9); // periods 3..11: still the annual plan
    expect((await h.view('sub-a2m'))).toMatchObject({ plan_id: 'sms-addon-annual', pending_plan_id: 'sms-200' });
    await renewTimes('sub-a2m', 2); // period 12 opens on the monthly plan, period 13 too
    expect((await h.view('sub-a2m')).plan_id).toBe('sms-200');
    expect((await h.invoices('acc-a2m')).map((i) => i.amount_minor)).toEqual([48000, 2400, 2400]);
  });

  it('an ended subscription id cannot start again (its keys are spent): refused, nothing charged', async () => {
    await h.account('acc-again');
    await h.start('sub-again', 'acc-again', 'sms-200');
    await h.service.cancel('sub-again', meta('again-x'));
    const r = await h.service.start({ subscriptionId: 'sub-again', accountId: 'acc-again', planId: 'sms-200', startedBy: 't' });
    expect(r).toMatchObject({ ok: false, refusal: 'not_active' });
    expect(await h.invoices('acc-again')).toHaveLength(1);
  });

  it('cancelling bills the overage drawn so far and allows no more', async () => {
    await h.account('acc-over');
    await h.start('sub-over', 'acc-over', 'minutes-local-10k');
    const r = await h.use('acc-over', 'voice_local_min', 10_100, 'over-1');
    expect(r).toMatchObject({ status: 'accepted', overage_credits: 100 });
    await h.service.cancel('sub-over', meta('over-x'));
    expect((await h.invoices('acc-over')).map((i) => [i.amount_minor, i.description])).toEqual([
      [45000, 'minutes-local-10k period 0'], [500, 'overage 100 voice_local_min']]);
    expect(await h.use('acc-over', 'voice_local_min', 1, 'over-2')).toMatchObject({ status: 'refused', code: 'insufficient_credits' });
  });
});

describe('activities run twice', () => {
  const acts = () => createActivities({ sql: h.sql, payments: createPostgresInvoicePayments(h.sql), catalog: loadCatalog });

  it('a retried overage bill charges exactly the amount it settled, however usage moved meanwhile', async () => {
    await h.account('acc-retry');
    await h.start('sub-retry', 'acc-retry', 'minutes-local-10k');
    await h.use('acc-retry', 'voice_local_min', 10_100, 'retry-1');
    const input = { subscription_id: 'sub-retry', account_id: 'acc-retry', period_index: 0, as_of_ms: await h.nowMs(), currency: 'USD' };
    const first = await acts().billOverage(input);
    await debit(h.sql, { key: 'retry-2', accountId: 'acc-retry', creditType: 'voice_local_min', amountCredits: 900,
      asOf: new Date(await h.nowMs()) });
    const again = await acts().billOverage(input);
    expect(again).toEqual(first);
    expect(first.billed).toEqual([expect.objectContaining({ credits: 100, amount_minor: 500, status: 'paid' })]);
    const [bal] = await h.sql`select overage_credits from balances where account_id = 'acc-retry'`;
    expect(bal!.overage_credits).toBe(900); // the later usage waits for the next bill
  });

  it('a re-run bundle purchase with a later clock finds its grant instead of failing on the key', async () => {
    await h.account('acc-rerun');
    await h.start('sub-rerun', 'acc-rerun', 'sms-200');
    const bundle = loadCatalog().bundles.find((b) => b.id === 'sms-pack-2y-1000')!;
    const input = { subscription_id: 'sub-rerun', account_id: 'acc-rerun', time_zone: 'UTC', bundle, request_id: 'r1',
      purchased_by: 't', as_of_ms: await h.nowMs(), auto: false };
    const first = await acts().purchaseBundle(input);
    const second = await acts().purchaseBundle({ ...input, as_of_ms: input.as_of_ms + 60_000 });
    expect(second).toEqual(first);
    expect(await h.available('acc-rerun', 'sms')).toBe(1200);
  });
});
