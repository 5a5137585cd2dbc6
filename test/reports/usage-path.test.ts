import { beforeAll, describe, expect, it } from 'vitest';
import { createUsageService } from '../../src/usage';
import { noSignals } from '../accounts/harness';
import { useApi } from '../support/api';
import { createParent, createSub, grant, ledgerSpent } from './harness';

/** Reports over usage that came in through the real usage path (rating, batches, shared billing), not seeded debits. */
const h = useApi();
const NOW = new Date(Date.now() - 60_000);

beforeAll(async () => {
  const { sql } = h.db;
  await createParent(sql, 'up');
  await createSub(sql, 'up', 'up-shop', true);
  await grant(sql, 'up', 'sms', 10_000);
  const usage = createUsageService({ sql, signaler: noSignals, graceWindowS: 3600, now: () => NOW });
  const rs = await usage.ingestBatch([
    { event_id: 'm1', account_id: 'up-shop', credit_type: 'sms', sms: { to_country: 'JP', text: 'a'.repeat(161) },
      list: 'launch', metadata: { campaign: 'spring' } },
    { event_id: 'm2', account_id: 'up', credit_type: 'sms', sms: { to_country: 'US', text: 'hi' }, list: 'launch' },
    { event_id: 'm3', account_id: 'up-shop', credit_type: 'sms', amount_credits: 5 },
  ]);
  expect(rs.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
  await usage.ingestOne({ event_id: 'm4', account_id: 'up-shop', credit_type: 'sms', amount_credits: 2, list: 'launch' });
});

const range = `from=${new Date(NOW.getTime() - 3_600_000).toISOString()}&to=${new Date(NOW.getTime() + 1).toISOString()}`;

describe('reports over real usage', () => {
  it('the drill-down shows each event\'s cost with its rating and metadata, under whose usage it was', async () => {
    const res = await h.call('GET', `/v1/accounts/up/reports/list-events?list=launch&${range}`, { key: h.keys.support });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.events).toEqual([
      expect.objectContaining({ event_id: 'm1', sub_account_id: 'up-shop', spent_credits: 8, overage_credits: 0,
        rate_card_version: '2026-01-01', operation_key: 'usage:up-shop:m1', usage_event_id: expect.any(String),
        detail: { rating: expect.objectContaining({ method: 'sms_segments', segments: 2, credits_per_segment: 4 }),
          metadata: { campaign: 'spring' } } }),
      // Same instant: by operation key, byte order ('usage:up-shop:…' before 'usage:up:…').
      expect.objectContaining({ event_id: 'm4', sub_account_id: 'up-shop', spent_credits: 2 }),
      expect.objectContaining({ event_id: 'm2', sub_account_id: 'up', spent_credits: 1 }),
    ]);
  });

  it('the spend report by sub-account adds up to the ledger', async () => {
    const res = await h.call('GET', `/v1/accounts/up/reports/spend?${range}&granularity=month&group_by=sub_account`,
      { key: h.keys.support });
    expect(res.body.rows.map((r: Record<string, unknown>) => [r.sub_account_id, r.spent_credits, r.events]))
      .toEqual([['up', 1, 1], ['up-shop', 15, 3]]);
    expect(await ledgerSpent(h.db.sql, ['up', 'up-shop'], new Date(0), new Date(NOW.getTime() + 1))).toEqual({ sms: 16 });
  });
});
