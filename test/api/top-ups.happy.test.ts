import { beforeAll, describe, expect, it } from 'vitest';
import { balances } from '../../src/ledger';
import { createAccount } from '../support/db';
import { idem, useApi } from '../support/api';

const h = useApi();

describe('POST /v1/accounts/{id}/top-ups', () => {
  beforeAll(async () => {
    await createAccount(h.db.sql, 'acc-top');
  });

  it('grants adjustment credits now, recorded with who and why', async () => {
    const res = await h.call('POST', '/v1/accounts/acc-top/top-ups', { key: h.keys.ops, headers: idem('t-1'),
      body: { credit_type: 'sms', amount_credits: 120, reason: 'goodwill for outage #42' } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      duplicate: false,
      grant: expect.objectContaining({ credit_type: 'sms', source: 'adjustment', amount_credits: 120, remaining_credits: 120,
        expires_at: null, purchased_by: 'test-ops', subscription_id: null }),
    });
    const [entry] = await h.db.sql`select kind, amount_credits, metadata, operation_key from ledger_entries
                                   where grant_id = ${res.body.grant.id}`;
    expect(entry).toEqual({ kind: 'grant', amount_credits: 120, operation_key: 'topup:acc-top:t-1',
      metadata: { reason: 'goodwill for outage #42', by: 'test-ops' } });
    const [bal] = await balances(h.db.sql, 'acc-top', new Date());
    expect(bal).toMatchObject({ credit_type: 'sms', available_credits: 120 });
  });

  it('a retry with the same Idempotency-Key answers the first grant (200) and grants nothing more', async () => {
    const body = { credit_type: 'voice_local_min', amount_credits: 30, reason: 'retry me' };
    const first = await h.call('POST', '/v1/accounts/acc-top/top-ups', { key: h.keys.ops, headers: idem('t-retry'), body });
    const before = await h.counts();
    const again = await h.call('POST', '/v1/accounts/acc-top/top-ups', { key: h.keys.admin, headers: idem('t-retry'), body });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ duplicate: true, grant: first.body.grant });
    expect(await h.counts()).toEqual(before);
  });

  it('the same Idempotency-Key on another account is another top-up', async () => {
    await createAccount(h.db.sql, 'acc-top-2');
    const body = { credit_type: 'sms', amount_credits: 5, reason: 'same key, other account' };
    const a = await h.call('POST', '/v1/accounts/acc-top/top-ups', { key: h.keys.ops, headers: idem('shared'), body });
    const b = await h.call('POST', '/v1/accounts/acc-top-2/top-ups', { key: h.keys.ops, headers: idem('shared'), body });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.grant.id).not.toBe(b.body.grant.id);
  });

  it("ids holding ':' cannot collide: account a:b with key c and account a with key b:c each get their own grant", async () => {
    await createAccount(h.db.sql, 'acc-col:b');
    await createAccount(h.db.sql, 'acc-col');
    const body = { credit_type: 'sms', amount_credits: 7, reason: 'collision check' };
    const first = await h.call('POST', '/v1/accounts/acc-col:b/top-ups', { key: h.keys.ops, headers: idem('c'), body });
    const second = await h.call('POST', '/v1/accounts/acc-col/top-ups', { key: h.keys.ops, headers: idem('b:c'), body });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(first.body.grant.id).not.toBe(second.body.grant.id);
    const owners = await h.db.sql<{ id: string; account_id: string; operation_key: string }[]>`
      select id, account_id, operation_key from grants where id in ${h.db.sql([first.body.grant.id, second.body.grant.id])}`;
    expect(Object.fromEntries(owners.map((g) => [g.account_id, g.operation_key]))).toEqual({
      'acc-col:b': 'topup:acc-col%3Ab:c',
      'acc-col': 'topup:acc-col:b%3Ac',
    });
    for (const account of ['acc-col:b', 'acc-col']) {
      const [bal] = await balances(h.db.sql, account, new Date());
      expect(bal).toMatchObject({ credit_type: 'sms', available_credits: 7 });
    }
    // Retries still find their own grant.
    const retry = await h.call('POST', '/v1/accounts/acc-col/top-ups', { key: h.keys.ops, headers: idem('b:c'), body });
    expect(retry.status).toBe(200);
    expect(retry.body.grant.id).toBe(second.body.grant.id);
  });

  it('credits with an expiry stop counting when it passes', async () => {
    const expires = new Date(Date.now() + 3_600_000);
    const res = await h.call('POST', '/v1/accounts/acc-top/top-ups', { key: h.keys.ops, headers: idem('t-exp'),
      body: { credit_type: 'voice_tollfree_min', amount_credits: 10, reason: 'trial', expires_at: expires.toISOString() } });
    expect(res.status).toBe(201);
    expect(res.body.grant.expires_at).toBe(expires.toISOString());
    const later = await balances(h.db.sql, 'acc-top', new Date(expires.getTime() + 1));
    expect(later.find((b) => b.credit_type === 'voice_tollfree_min')).toMatchObject({ available_credits: 0, ledger_balance_credits: 10 });
  });

  it('concurrent first attempts with one key grant once', async () => {
    const body = { credit_type: 'sms', amount_credits: 7, reason: 'double click' };
    const results = await Promise.all([1, 2, 3].map(() =>
      h.call('POST', '/v1/accounts/acc-top/top-ups', { key: h.keys.ops, headers: idem('t-race'), body })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(results.map((r) => r.body.grant.id)).size).toBe(1);
  });
});
