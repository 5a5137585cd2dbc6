import { describe, expect, it } from 'vitest';
import { HOUR_MS, SubscriptionHarness } from '../support/subscriptions';

const h = SubscriptionHarness.use();

/** The reference answer: what each rollover policy leaves for the next period. */
const carry = {
  'sms-200': (_left: number) => 0,                              // none
  'sms-1000-rollover': (left: number) => left,                 // full
  'sms-10000': (left: number) => Math.min(left, 2500),         // capped at 2,500
  'sms-addon-annual': (left: number) => Math.min(left, 250),   // capped at 0.5 × 500
} as const;
const allotment = { 'sms-200': 200, 'sms-1000-rollover': 1000, 'sms-10000': 10000, 'sms-addon-annual': 500 } as const;
type PlanId = keyof typeof carry;
const plans = Object.keys(carry) as PlanId[];

describe('monthly renewal over 25 months', () => {
  it('grants each allotment, applies each rollover policy, and charges annual plans once a year', async () => {
    for (const plan of plans) {
      await h.account(`acc-${plan}`);
      const r = await h.start(`sub-${plan}`, `acc-${plan}`, plan);
      expect(r.outcome).toBe('active');
    }
    const expected = Object.fromEntries(plans.map((p) => [p, allotment[p]])) as Record<PlanId, number>;
    for (let month = 0; month < 25; month++) {
      for (const plan of plans) {
        expect(await h.available(`acc-${plan}`, 'sms'), `${plan} month ${month}`).toBe(expected[plan]);
        // Use a different share each month so rollovers are exercised below and above their caps.
        const used = Math.floor((expected[plan] * ((month * 37) % 100)) / 100);
        if (used > 0) {
          const d = await h.use(`acc-${plan}`, 'sms', used, `use-${plan}-${month}`);
          expect(d.status).toBe('accepted');
        }
        expected[plan] = carry[plan](expected[plan] - used) + allotment[plan];
      }
      const view = await h.view(`sub-${plans[0]}`);
      expect(view.current_period!.index).toBe(month);
      await h.advanceTo(view.current_period!.end_ms + HOUR_MS);
    }
    for (const plan of plans) {
      const view = await h.view(`sub-${plan}`);
      expect(view.status).toBe('active');
      expect(view.current_period!.index).toBe(25);
      const invoices = await h.invoices(`acc-${plan}`);
      // Periods 0..25 were opened: monthly plans paid 26 times, the annual plan at periods 0, 12 and 24.
      expect(invoices.filter((i) => i.status === 'paid')).toHaveLength(plan === 'sms-addon-annual' ? 3 : 26);
      // The workflow remembers only recent plan grants: history stays in the ledger, not in workflow state.
      expect(view.grants.length).toBeLessThanOrEqual(6);
      expect(view.generation).toBeGreaterThanOrEqual(0);
    }
  });
});
