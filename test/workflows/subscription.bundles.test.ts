import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { simulatePaymentFailures, clearPaymentFailures } from '../../src/payments/postgres-invoices';
import { DAY_MS, HOUR_MS, SubscriptionHarness } from '../support/subscriptions';

const h = SubscriptionHarness.use();
const buy = (sub: string, bundle_id: string, request_id: string) =>
  h.service.buyBundle(sub, { request_id, by: 'billing@test', bundle_id });

describe('bundles', () => {
  it('refuses an unknown or ineligible bundle before anything is charged or granted', async () => {
    await h.account('acc-free', { country: 'DE' });
    await h.start('sub-free', 'acc-free', 'sms-starter');
    expect(await buy('sub-free', 'no-such', 'r1')).toMatchObject({ ok: false, refusal: 'unknown_bundle' });
    // Pay-as-you-go bundles need a paid plan; the minutes bundle is sold in US & Canada only.
    expect(await buy('sub-free', 'sms-payg-500', 'r2')).toMatchObject({ ok: false, refusal: 'not_eligible' });
    await h.account('acc-de', { country: 'DE' });
    await h.start('sub-de', 'acc-de', 'minutes-local-10k');
    expect(await buy('sub-de', 'minutes-local-5k', 'r3')).toMatchObject({ ok: false, refusal: 'not_eligible' });
    const invoices = await h.sql`select count(*)::int as n from invoices where account_id in ('acc-free', 'acc-de')`;
    expect(invoices[0]!.n).toBe(2); // the two plan starts only
  });

  it('a declined bundle payment grants nothing and is answered, not thrown', async () => {
    await h.account('acc-payfail');
    await h.start('sub-payfail', 'acc-payfail', 'sms-200');
    await simulatePaymentFailures(h.sql, 'acc-payfail', 1);
    const r = await buy('sub-payfail', 'sms-payg-500', 'pf-1');
    expect(r).toMatchObject({ ok: true, value: { outcome: 'payment_failed', purchase: { status: 'failed', reason: 'card_declined' } } });
    expect(await h.available('acc-payfail', 'sms')).toBe(200);
    await clearPaymentFailures(h.sql, 'acc-payfail');
    const ok = await buy('sub-payfail', 'sms-payg-500', 'pf-2');
    expect(ok).toMatchObject({ ok: true, value: { outcome: 'granted', grant: { amount_credits: 500, expires_at_ms: null } } });
    // Replaying a request answers the first result without charging again.
    expect(await buy('sub-payfail', 'sms-payg-500', 'pf-2')).toEqual(ok);
    expect(await h.available('acc-payfail', 'sms')).toBe(700);
    const view = await h.view('sub-payfail');
    expect(view.purchases.map((p) => [p.request_id, p.status, p.purchased_by])).toEqual([
      ['pf-1', 'failed', 'billing@test'], ['pf-2', 'succeeded', 'billing@test']]);
  });

  it('a 2-year bundle expires to the second, and a later purchase extends the earlier one', async () => {
    await h.account('acc-2y', { timeZone: 'Europe/Rome', country: 'IT' });
    await h.start('sub-2y', 'acc-2y', 'sms-starter');
    const first = await buy('sub-2y', 'sms-pack-2y-1000', 'y1');
    if (!first.ok || first.value.outcome !== 'granted') throw new Error('first purchase failed');
    const boughtAt = first.value.purchase.at_ms;
    const expiresAt = first.value.grant.expires_at_ms!;
    expect(expiresAt).toBe(DateTime.fromMillis(boughtAt, { zone: 'Europe/Rome' }).plus({ years: 2 }).toMillis());

    // A year on, a second pack moves the first one's expiry to its own (two years from the second purchase).
    await h.advanceTo(boughtAt + 365 * DAY_MS);
    const second = await buy('sub-2y', 'sms-pack-2y-1000', 'y2');
    if (!second.ok || second.value.outcome !== 'granted') throw new Error('second purchase failed');
    const newExpiry = second.value.grant.expires_at_ms!;
    const firstId = first.value.grant.grant_id;
    const firstGrant = (await h.view('sub-2y')).grants.find((g) => g.grant_id === firstId)!;
    expect(firstGrant.expires_at_ms).toBe(newExpiry);
    // Burn order takes this month's 25 plan credits first (they expire soonest), then 275 from the packs.
    const use = await h.use('acc-2y', 'sms', 300, 'y-use');
    expect(use.status === 'accepted' && use.entries.map((e) => e.amount_credits)).toEqual([25, 275]);
    const packsLeft = 2000 - 275;

    // At the first pack's original expiry nothing leaves; one second before the new expiry all of it is there.
    await h.advanceTo(expiresAt + HOUR_MS);
    const packs = (await h.view('sub-2y')).grants.filter((g) => g.source === 'bundle');
    expect(packs.every((g) => !g.expired)).toBe(true);
    await h.advanceTo(newExpiry - 1_000);
    expect(await h.available('acc-2y', 'sms')).toBe(packsLeft + 25);
    await h.advanceTo(newExpiry + 1_000);
    expect(await h.available('acc-2y', 'sms')).toBe(25);
    const expiries = await h.sql<{ amount_credits: number; effective_at: Date }[]>`
      select e.amount_credits, e.effective_at from ledger_entries e join grants g on g.id = e.grant_id
      where e.account_id = 'acc-2y' and e.kind = 'expiry' and g.source = 'bundle' order by e.id`;
    expect(expiries.map((e) => e.amount_credits).reduce((a, b) => a + b, 0)).toBe(-packsLeft);
    expect(expiries.every((e) => e.effective_at.getTime() === newExpiry)).toBe(true);
  });

  it('the debit SQL refuses expired bundle credits even before the expiry timer runs', async () => {
    await h.account('acc-sql');
    await h.start('sub-sql', 'acc-sql', 'sms-starter');
    const r = await buy('sub-sql', 'sms-pack-2y-1000', 'sql-1');
    if (!r.ok || r.value.outcome !== 'granted') throw new Error('purchase failed');
    const expiry = r.value.grant.expires_at_ms!;
    const { debit } = await import('../../src/ledger');
    const at = (ms: number) => ({ accountId: 'acc-sql', creditType: 'sms', amountCredits: 1000, asOf: new Date(ms) });
    expect((await debit(h.sql, { key: 'sql-late', ...at(expiry) })).status).toBe('refused');
    expect((await debit(h.sql, { key: 'sql-ok', ...at(expiry - 1) })).status).toBe('accepted');
  });
});
