import { describe, expect, it } from 'vitest';
import { simulatePaymentFailures } from '../../src/payments/postgres-invoices';
import { DAY_MS, HOUR_MS, SubscriptionHarness } from '../support/subscriptions';

const h = SubscriptionHarness.use();
const meta = (id: string) => ({ request_id: id, by: 'ops@test' });

describe('subscription lifecycle', () => {
  it('starts idempotently and refuses a second start with other terms', async () => {
    await h.account('acc-idem');
    const a = await h.start('sub-idem', 'acc-idem', 'sms-200');
    const b = await h.start('sub-idem', 'acc-idem', 'sms-200');
    expect(a.outcome).toBe('active');
    expect(b.view.current_period).toEqual(a.view.current_period);
    expect(await h.invoices('acc-idem')).toHaveLength(1);
    const other = await h.service.start({ subscriptionId: 'sub-idem', accountId: 'acc-idem', planId: 'sms-10000', startedBy: 't' });
    expect(other).toMatchObject({ ok: false, refusal: 'terms_conflict' });
    expect(await h.available('acc-idem', 'sms')).toBe(200);
  });

  it('stops renewal (credits usable to period end), resumes before the end, and renews', async () => {
    await h.account('acc-stop');
    const { view } = await h.start('sub-stop', 'acc-stop', 'sms-200');
    const stopped = await h.service.stopRenewal('sub-stop', meta('stop-1'));
    expect(stopped).toMatchObject({ ok: true, value: { status: 'renewal_stopped', renewal_enabled: false, next_renewal_at_ms: null } });
    // The same request again answers the same; another stop is refused.
    expect(await h.service.stopRenewal('sub-stop', meta('stop-1'))).toEqual(stopped);
    expect(await h.service.stopRenewal('sub-stop', meta('stop-2'))).toMatchObject({ ok: false, refusal: 'already_stopped' });
    await h.advanceTo(view.current_period!.end_ms - DAY_MS);
    expect((await h.use('acc-stop', 'sms', 50, 'stop-use')).status).toBe('accepted');
    const resumed = await h.service.resumeRenewal('sub-stop', meta('resume-1'));
    expect(resumed).toMatchObject({ ok: true, value: { status: 'active', renewal_enabled: true } });
    await h.advanceTo(view.current_period!.end_ms + HOUR_MS);
    expect((await h.view('sub-stop')).current_period!.index).toBe(1);
    expect(await h.available('acc-stop', 'sms')).toBe(200);
  });

  it('ends at period end when renewal stays stopped, and cannot be resumed after', async () => {
    await h.account('acc-end');
    const { view } = await h.start('sub-end', 'acc-end', 'sms-1000-rollover');
    await h.service.stopRenewal('sub-end', meta('end-stop'));
    await h.advanceTo(view.current_period!.end_ms + HOUR_MS);
    await h.expectStatus('sub-end', 'ended');
    expect(await h.available('acc-end', 'sms')).toBe(0);
    const expiries = await h.sql`select sum(amount_credits)::int as s from ledger_entries where account_id = 'acc-end' and kind = 'expiry'`;
    expect(expiries[0]!.s).toBe(-1000);
    expect(await h.service.resumeRenewal('sub-end', meta('end-resume'))).toMatchObject({ ok: false });
    expect(await h.invoices('acc-end')).toHaveLength(1);
  });

  it('cancels now: plan credits leave the balance at once with an expiry entry', async () => {
    await h.account('acc-cancel');
    await h.start('sub-cancel', 'acc-cancel', 'sms-200');
    await h.use('acc-cancel', 'sms', 20, 'cancel-use');
    const r = await h.service.cancel('sub-cancel', { ...meta('cancel-1'), reason: 'customer asked' });
    expect(r).toMatchObject({ ok: true, value: { status: 'cancelled' } });
    expect(await h.available('acc-cancel', 'sms')).toBe(0);
    expect(await h.service.cancel('sub-cancel', meta('cancel-2'))).toMatchObject({ ok: false, refusal: 'not_active' });
  });

  it('changes plan at the next renewal, charging the new price from then on', async () => {
    await h.account('acc-change');
    const { view } = await h.start('sub-change', 'acc-change', 'sms-200');
    expect(await h.service.changePlan('sub-change', { ...meta('chg-0'), plan_id: 'nope' }))
      .toMatchObject({ ok: false, refusal: 'unknown_plan' });
    expect(await h.service.changePlan('sub-change', { ...meta('chg-eur'), plan_id: 'sms-200' }))
      .toMatchObject({ ok: false, refusal: 'same_plan' });
    const changed = await h.service.changePlan('sub-change', { ...meta('chg-1'), plan_id: 'sms-10000' });
    expect(changed).toMatchObject({ ok: true, value: { plan_id: 'sms-200', pending_plan_id: 'sms-10000' } });
    expect(await h.available('acc-change', 'sms')).toBe(200);
    await h.advanceTo(view.current_period!.end_ms + HOUR_MS);
    const after = await h.view('sub-change');
    expect(after).toMatchObject({ plan_id: 'sms-10000', pending_plan_id: null });
    expect(await h.available('acc-change', 'sms')).toBe(10000);
    expect((await h.invoices('acc-change')).map((i) => i.amount_minor)).toEqual([2400, 69900]);
  });

  it('a declined first charge grants nothing', async () => {
    await h.account('acc-declined');
    await simulatePaymentFailures(h.sql, 'acc-declined', 1);
    const r = await h.start('sub-declined', 'acc-declined', 'sms-200');
    expect(r.outcome).toBe('payment_failed');
    expect(await h.available('acc-declined', 'sms')).toBe(0);
    const grants = await h.sql`select count(*)::int as n from grants where account_id = 'acc-declined'`;
    expect(grants[0]!.n).toBe(0);
  });

  it('a declined renewal goes past due, grants nothing, and recovers on a retry', async () => {
    await h.account('acc-pastdue');
    const { view } = await h.start('sub-pastdue', 'acc-pastdue', 'sms-1000-rollover');
    await h.use('acc-pastdue', 'sms', 400, 'pd-use');
    await simulatePaymentFailures(h.sql, 'acc-pastdue', 1);
    await h.advanceTo(view.current_period!.end_ms + HOUR_MS);
    const pastDue = await h.view('sub-pastdue');
    expect(pastDue.status).toBe('past_due');
    expect(await h.available('acc-pastdue', 'sms')).toBe(0);
    await h.advanceBy(DAY_MS);
    const recovered = await h.view('sub-pastdue');
    expect(recovered.status).toBe('active');
    expect(recovered.current_period!.index).toBe(1);
    // The period keeps its anchored bounds; the full rollover of what was left still happens.
    expect(recovered.current_period!.start_ms).toBe(view.current_period!.end_ms);
    expect(await h.available('acc-pastdue', 'sms')).toBe(600 + 1000);
    expect((await h.invoices('acc-pastdue')).map((i) => i.status)).toEqual(['paid', 'failed', 'paid']);
  });

  it('a renewal declined on every retry ends the subscription', async () => {
    await h.account('acc-dunned');
    const { view } = await h.start('sub-dunned', 'acc-dunned', 'sms-200');
    await simulatePaymentFailures(h.sql, 'acc-dunned', null);
    await h.advanceTo(view.current_period!.end_ms + 8 * DAY_MS);
    await h.expectStatus('sub-dunned', 'ended');
    expect((await h.invoices('acc-dunned')).map((i) => i.status)).toEqual(['paid', 'failed', 'failed', 'failed', 'failed']);
  });
});
