import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { closeGrant, debit } from '../../src/ledger';
import { expectProblem, idem, useApi } from '../support/api';
import { give } from './harness';

const h = useApi();
const T = new Date(Date.now() - 3_600_000);

beforeAll(async () => {
  await h.db.sql`insert into accounts (id, name, time_zone, country) values ('ag', 'Agency', 'Europe/Rome', 'IT')`;
});

const post = (path: string, body: unknown, key = h.keys.billing, headers: Record<string, string> = {}) =>
  h.call('POST', path, { key, body, headers });

describe('POST /v1/accounts/{id}/sub-accounts', () => {
  it('creates a sub-account with the parent\'s zone and country by default; the same request again is a 200', async () => {
    const body = { id: 'ag-shop', name: 'Shop', shared_billing: true };
    const res = await post('/v1/accounts/ag/sub-accounts', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toEqual({ id: 'ag-shop', parent_account_id: 'ag', name: 'Shop', time_zone: 'Europe/Rome', country: 'IT',
      shared_billing: true, billing_account_id: 'ag', created_at: expect.any(String) });
    const again = await post('/v1/accounts/ag/sub-accounts', body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    const own = await post('/v1/accounts/ag/sub-accounts', { id: 'ag-own', name: 'Own', time_zone: 'UTC', country: 'US',
      shared_billing: false });
    expect(own.body).toMatchObject({ billing_account_id: 'ag-own', time_zone: 'UTC', country: 'US' });
  });

  it('lists them, with whose credits each draws on', async () => {
    const res = await h.call('GET', '/v1/accounts/ag/sub-accounts', { key: h.keys.support });
    expect(res.body.sub_accounts.map((s: { id: string; billing_account_id: string }) => [s.id, s.billing_account_id]))
      .toEqual([['ag-own', 'ag-own'], ['ag-shop', 'ag']]);
  });

  it.each([
    [{ id: 'ag-shop', name: 'Other name', shared_billing: true }, 409, 'account_conflict'],
    [{ id: 'ag', name: 'Agency', shared_billing: true }, 409, 'account_conflict'],
  ])('%j → %i %s', async (body, status, code) => {
    expectProblem(await post('/v1/accounts/ag/sub-accounts', body), status, code);
  });

  it('a sub-account cannot have sub-accounts (422); an unknown parent is a 404', async () => {
    expectProblem(await post('/v1/accounts/ag-shop/sub-accounts', { id: 'deeper', name: 'x', shared_billing: false }),
      422, 'not_a_parent');
    expectProblem(await post('/v1/accounts/nobody/sub-accounts', { id: 'orphan', name: 'x', shared_billing: false }),
      404, 'not_found');
    const [n] = await h.db.sql`select count(*)::int as n from accounts where id in ('deeper', 'orphan')`;
    expect(n!.n).toBe(0);
  });

  it.each([
    [{ id: 'x', name: 'x' }, ['shared_billing']],
    [{ id: 'x', name: 'x', shared_billing: 'yes' }, ['shared_billing']],
    [{ id: '-x', name: '', shared_billing: true }, ['id', 'name']],
    [{ id: 'x', name: 'x', shared_billing: true, time_zone: 'Mars/Base' }, ['time_zone']],
    [{ id: 'x', name: 'x', shared_billing: true, country: 'XX' }, ['country']],
    [{ id: 'x', name: 'x', shared_billing: true, parent_account_id: 'other' }, []],
  ])('%j → 400 naming %j', async (body, fields) => {
    const p = expectProblem(await post('/v1/accounts/ag/sub-accounts', body), 400, 'validation_failed');
    expect(p.errors!.map((e) => e.path[0]).filter((f) => f !== undefined).sort()).toEqual(fields);
  });
});

describe('POST /v1/accounts/{id}/shared-billing', () => {
  it('moves a sub-account out of and back into shared billing, once per key, audited', async () => {
    const key = randomUUID();
    const out = await post('/v1/accounts/ag-shop/shared-billing', { shared_billing: false, reason: 'own invoices' },
      h.keys.billing, idem(key));
    expect(out.status, JSON.stringify(out.body)).toBe(200);
    expect(out.body).toEqual({ account_id: 'ag-shop', parent_account_id: 'ag', shared_billing: false,
      billing_account_id: 'ag-shop', duplicate: false });
    const replay = await post('/v1/accounts/ag-shop/shared-billing', { shared_billing: false, reason: 'own invoices' },
      h.keys.billing, idem(key));
    expect(replay.body).toMatchObject({ shared_billing: false, duplicate: true });
    expectProblem(await post('/v1/accounts/ag-shop/shared-billing', { shared_billing: true, reason: 'other' },
      h.keys.billing, idem(key)), 409, 'idempotency_conflict');
    expectProblem(await post('/v1/accounts/ag-shop/shared-billing', { shared_billing: false, reason: 'again' },
      h.keys.billing, idem(randomUUID())), 409, 'not_shared');
    const back = await post('/v1/accounts/ag-shop/shared-billing', { shared_billing: true, reason: 'back to the pool' },
      h.keys.admin, idem(randomUUID()));
    expect(back.body).toMatchObject({ shared_billing: true, billing_account_id: 'ag' });
    expectProblem(await post('/v1/accounts/ag-shop/shared-billing', { shared_billing: true, reason: 'again' },
      h.keys.billing, idem(randomUUID())), 409, 'already_shared');

    const audit = await h.call('GET', '/v1/accounts/ag/billing-changes', { key: h.keys.support });
    expect(audit.body.changes.filter((c: { account_id: string }) => c.account_id === 'ag-shop')
      .map((c: Record<string, unknown>) => [c.shared_billing_before, c.shared_billing_after, c.reason, c.changed_by]))
      .toEqual([[null, true, 'created', 'test-billing'], [true, false, 'own invoices', 'test-billing'],
        [false, true, 'back to the pool', 'test-admin']]);
  });

  it('refuses a top-level account (422) and an unknown one (404); needs an Idempotency-Key and a reason', async () => {
    expectProblem(await post('/v1/accounts/ag/shared-billing', { shared_billing: true, reason: 'x' }, h.keys.billing,
      idem(randomUUID())), 422, 'not_a_sub_account');
    expectProblem(await post('/v1/accounts/nobody/shared-billing', { shared_billing: true, reason: 'x' }, h.keys.billing,
      idem(randomUUID())), 404, 'not_found');
    const p = expectProblem(await post('/v1/accounts/ag-shop/shared-billing', { shared_billing: 'no', reason: ' ' }),
      400, 'validation_failed');
    expect(p.errors!.map((e) => `${e.in}.${e.path.join('.')}`).sort())
      .toEqual(['body.reason', 'body.shared_billing', 'headers.Idempotency-Key']);
  });
});

describe('GET /v1/accounts/{id}/packages', () => {
  it('a shared sub-account sees its parent\'s packages, used and remaining, and only its own share of the use', async () => {
    const { sql } = h.db;
    await h.db.sql`insert into accounts (id, name, time_zone, country) values ('pk', 'P', 'UTC', 'US')`;
    await post('/v1/accounts/pk/sub-accounts', { id: 'pk-a', name: 'A', shared_billing: true });
    await post('/v1/accounts/pk/sub-accounts', { id: 'pk-b', name: 'B', shared_billing: true });
    await post('/v1/accounts/pk/sub-accounts', { id: 'pk-own', name: 'O', shared_billing: false });
    const g = await give(sql, 'pk', 'sms', 1000, { from: new Date(T.getTime() - 86_400_000) });
    const gone = await give(sql, 'pk', 'sms', 10, { from: new Date(T.getTime() - 86_400_000) });
    await give(sql, 'pk-own', 'sms', 5, { from: new Date(T.getTime() - 86_400_000) });
    for (const [who, credits] of [['pk-a', 100], ['pk-b', 30], ['pk', 20], ['pk-a', 1]] as const) {
      await debit(sql, { key: `usage:${who}:${randomUUID()}`, accountId: 'pk', creditType: 'sms', amountCredits: credits,
        asOf: T, metadata: who === 'pk' ? {} : { usage_account_id: who } });
    }
    await closeGrant(sql, 'void-small', gone.grant_id, T, 'void');

    const sub = await h.call('GET', '/v1/accounts/pk-a/packages', { key: h.keys.support });
    expect(sub.status, JSON.stringify(sub.body)).toBe(200);
    expect(sub.body).toMatchObject({ account_id: 'pk-a', billing_account_id: 'pk', shared_billing: true });
    expect(sub.body.packages).toEqual([expect.objectContaining({ grant_id: g.grant_id, credit_type: 'sms', source: 'bundle',
      amount_credits: 1000, used_credits: 151, lapsed_credits: 0, remaining_credits: 849,
      used_by: [{ account_id: 'pk-a', used_credits: 101 }] })]);

    const parent = await h.call('GET', '/v1/accounts/pk/packages?include_ended=true', { key: h.keys.ops });
    expect(parent.body.packages.map((p: Record<string, unknown>) => [p.amount_credits, p.used_credits, p.lapsed_credits,
      p.remaining_credits, p.used_by])).toEqual([
      [1000, 151, 0, 849, [{ account_id: 'pk', used_credits: 20 }, { account_id: 'pk-a', used_credits: 101 },
        { account_id: 'pk-b', used_credits: 30 }]],
      [10, 0, 10, 0, []],
    ]);

    const own = await h.call('GET', '/v1/accounts/pk-own/packages', { key: h.keys.billing });
    expect(own.body).toMatchObject({ billing_account_id: 'pk-own', shared_billing: false,
      packages: [expect.objectContaining({ amount_credits: 5, remaining_credits: 5 })] });
  });

  it('rejects a bad flag (400) and an unknown account (404)', async () => {
    expectProblem(await h.call('GET', '/v1/accounts/pk/packages?include_ended=yes', { key: h.keys.support }), 400,
      'validation_failed');
    expectProblem(await h.call('GET', '/v1/accounts/nobody/packages', { key: h.keys.support }), 404, 'not_found');
  });
});
