import { describe, expect, it } from 'vitest';
import { grantCredits } from '../../src/ledger';
import { useApi } from '../support/api';

const h = useApi();

describe('POST /v1/accounts', () => {
  it('creates an account (201) and answers the same request again with it (200)', async () => {
    const body = { id: 'acme-1', name: 'Acme', time_zone: 'Europe/Berlin', country: 'DE' };
    const first = await h.call('POST', '/v1/accounts', { key: h.keys.billing, body });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ ...body, created_at: expect.any(String) });
    const again = await h.call('POST', '/v1/accounts', { key: h.keys.admin, body });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const rows = await h.db.sql`select count(*)::int as n from accounts where id = 'acme-1'`;
    expect(rows[0]!.n).toBe(1);
  });

  it('accepts any IANA zone the calendar knows, including UTC', async () => {
    const r = await h.call('POST', '/v1/accounts', { key: h.bootstrapAdmin,
      body: { id: 'acme-utc', name: 'UTC Co', time_zone: 'UTC', country: 'US' } });
    expect(r.status).toBe(201);
  });
});

describe('GET /v1/accounts/{id}', () => {
  it('shows the account with exact balances and its subscriptions', async () => {
    await h.call('POST', '/v1/accounts', { key: h.keys.admin,
      body: { id: 'acme-2', name: 'Acme Two', time_zone: 'America/New_York', country: 'US' } });
    await grantCredits(h.db.sql, { key: 'seed-acme-2', accountId: 'acme-2', creditType: 'sms', amountCredits: 40,
      source: 'adjustment', effectiveFrom: new Date(Date.now() - 60_000), expiresAt: null });
    await h.db.sql`insert into subscriptions (id, account_id, plan_id, status, terms)
                   values ('sub-acme-2', 'acme-2', 'sms-200', 'active', '{}')`;
    const r = await h.call('GET', '/v1/accounts/acme-2', { key: h.keys.support });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      account: { id: 'acme-2', name: 'Acme Two', time_zone: 'America/New_York', country: 'US', created_at: expect.any(String) },
      balances: [{ credit_type: 'sms', ledger_balance_credits: 40, available_credits: 40, held_credits: 0, overage_credits: 0 }],
      subscriptions: [{ id: 'sub-acme-2', plan_id: 'sms-200', status: 'active', created_at: expect.any(String),
        updated_at: expect.any(String) }],
    });
  });
});
