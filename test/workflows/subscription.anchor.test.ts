import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { HOUR_MS, SubscriptionHarness } from '../support/subscriptions';

const h = SubscriptionHarness.use();

describe('renewal calendar', () => {
  it('keeps a Jan 31 anchor through a leap February, in the customer time zone', async () => {
    const zone = 'America/New_York';
    // Move server time to Jan 31 2028, 09:30 in New York, and subscribe there and then.
    const anchor = DateTime.fromObject({ year: 2028, month: 1, day: 31, hour: 9, minute: 30 }, { zone });
    await h.advanceTo(anchor.toMillis());
    await h.account('acc-anchor', { timeZone: zone });
    const { view } = await h.start('sub-anchor', 'acc-anchor', 'sms-200');
    const starts = [view.current_period!.start_ms];
    for (let i = 0; i < 14; i++) {
      const v = await h.view('sub-anchor');
      await h.advanceTo(v.current_period!.end_ms + HOUR_MS);
      starts.push((await h.view('sub-anchor')).current_period!.start_ms);
    }
    const local = starts.map((ms) => DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM-dd HH:mm'));
    expect(local).toEqual([
      '2028-01-31 09:30', '2028-02-29 09:30', '2028-03-31 09:30', '2028-04-30 09:30', '2028-05-31 09:30',
      '2028-06-30 09:30', '2028-07-31 09:30', '2028-08-31 09:30', '2028-09-30 09:30', '2028-10-31 09:30',
      '2028-11-30 09:30', '2028-12-31 09:30', '2029-01-31 09:30', '2029-02-28 09:30', '2029-03-31 09:30',
    ].slice(0, local.length));
    expect(local).toHaveLength(15);
    // Every renewal granted the allotment again (no rollover on this plan).
    expect(await h.available('acc-anchor', 'sms')).toBe(200);
  });
});
