import { beforeAll, describe, expect, it } from 'vitest';
import { debit, grantCredits } from '../../src/ledger';
import { createAccount } from '../support/db';
import { useApi } from '../support/api';

const h = useApi();
const T0 = new Date(Date.now() - 86_400_000);

describe('grants and entries', () => {
  beforeAll(async () => {
    const { sql } = h.db;
    await createAccount(sql, 'acc-read');
    await grantCredits(sql, { key: 'r-g1', accountId: 'acc-read', creditType: 'sms', amountCredits: 100,
      source: 'plan_allotment', effectiveFrom: T0, expiresAt: null, subscriptionId: 'sub-r' });
    await grantCredits(sql, { key: 'r-g2', accountId: 'acc-read', creditType: 'voice_local_min', amountCredits: 50,
      source: 'bundle', effectiveFrom: T0, expiresAt: null, bundleId: 'minutes-local-5k' });
    for (let i = 1; i <= 3; i++) {
      await debit(sql, { key: `r-d${i}`, accountId: 'acc-read', creditType: 'sms', amountCredits: i, asOf: new Date() });
    }
  });

  it('GET grants lists every grant with what is left of it', async () => {
    const res = await h.call('GET', '/v1/accounts/acc-read/grants', { key: h.keys.support });
    expect(res.status).toBe(200);
    expect(res.body.grants).toEqual([
      expect.objectContaining({ credit_type: 'sms', source: 'plan_allotment', amount_credits: 100, remaining_credits: 94,
        subscription_id: 'sub-r', effective_from: T0.toISOString() }),
      expect.objectContaining({ credit_type: 'voice_local_min', source: 'bundle', remaining_credits: 50, bundle_id: 'minutes-local-5k' }),
    ]);
  });

  it('GET entries pages newest first until next_before is null', async () => {
    const seen: { kind: string; amount_credits: number; id: number }[] = [];
    let before: number | null = null;
    for (let page = 0; page < 10; page++) {
      const q: string = before === null ? '?limit=2' : `?limit=2&before=${before}`;
      const res = await h.call('GET', `/v1/accounts/acc-read/entries${q}`, { key: h.keys.billing });
      expect(res.status).toBe(200);
      expect(res.body.entries.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.entries);
      before = res.body.next_before;
      if (before === null) break;
    }
    expect(seen.map((e) => [e.kind, e.amount_credits])).toEqual([
      ['debit', -3], ['debit', -2], ['debit', -1], ['grant', 50], ['grant', 100],
    ]);
    expect(seen.map((e) => e.id)).toEqual([...seen.map((e) => e.id)].sort((a, b) => b - a));
  });

  it('GET entries filters by credit type and defaults to a page of 100', async () => {
    const res = await h.call('GET', '/v1/accounts/acc-read/entries?credit_type=voice_local_min', { key: h.keys.ops });
    expect(res.body).toEqual({ entries: [expect.objectContaining({ kind: 'grant', amount_credits: 50,
      operation_key: 'r-g2', metadata: {} })], next_before: null });
  });
});
