import { beforeAll, describe, expect, it } from 'vitest';
import { expireGrant } from '../../src/ledger';
import { createUsageService } from '../../src/usage';
import { createSub, give, noSignals } from '../accounts/harness';
import { expectProblem, useApi } from '../support/api';

const h = useApi();
const put = (path: string, body: unknown, key = h.keys.ops) => h.call('PUT', path, { key, body });

beforeAll(async () => {
  await h.db.sql`insert into accounts (id, name, time_zone, country) values ('li', 'L', 'UTC', 'US')`;
  await createSub(h.db.sql, 'li', 'li-sub', true);
});

describe('list limits over HTTP', () => {
  it('PUT sets a limit, GET shows it with what is assigned, DELETE frees the list', async () => {
    const set = await put('/v1/accounts/li/lists/spring%20promo/limits/sms', { period: 'total', limit_credits: 300 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toEqual({ replaced: false, limit: { list: 'spring promo', credit_type: 'sms', period: 'total',
      limit_credits: 300, spent_credits: 0, expired_credits: 0, remaining_credits: 300, month: null, set_by: 'test-ops',
      set_at: expect.any(String) } });
    const monthly = await put('/v1/accounts/li/lists/news%2Fweekly/limits/sms', { period: 'month', limit_credits: 50 });
    expect(monthly.body.limit).toMatchObject({ list: 'news/weekly', period: 'month', month: expect.stringMatching(/-01$/) });
    expect((await put('/v1/accounts/li/lists/spring%20promo/limits/sms', { period: 'total', limit_credits: 400 })).body)
      .toMatchObject({ replaced: true, limit: { limit_credits: 400, remaining_credits: 400 } });

    await give(h.db.sql, 'li', 'sms', 1000);
    const res = await h.call('GET', '/v1/accounts/li/lists', { key: h.keys.support });
    expect(res.body).toMatchObject({ account_id: 'li', billing_account_id: 'li',
      limits: [expect.objectContaining({ list: 'news/weekly' }), expect.objectContaining({ list: 'spring promo' })],
      assignments: [{ credit_type: 'sms', available_credits: 1000, assigned_credits: 400, unassigned_credits: 600 }] });

    expect((await h.call('DELETE', '/v1/accounts/li/lists/news%2Fweekly/limits/sms', { key: h.keys.ops })).body)
      .toEqual({ removed: true });
    expectProblem(await h.call('DELETE', '/v1/accounts/li/lists/news%2Fweekly/limits/sms', { key: h.keys.ops }), 404,
      'not_found');
  });

  it('a shared sub-account\'s limits are its own; its assignments count in the parent\'s balance', async () => {
    await put('/v1/accounts/li-sub/lists/x/limits/sms', { period: 'total', limit_credits: 100 });
    const sub = await h.call('GET', '/v1/accounts/li-sub/lists', { key: h.keys.billing });
    expect(sub.body).toMatchObject({ billing_account_id: 'li', limits: [expect.objectContaining({ list: 'x' })],
      assignments: [{ credit_type: 'sms', assigned_credits: 500, unassigned_credits: 500 }] });
  });

  it('shows what an expiry took from each list', async () => {
    const { sql } = h.db;
    await h.db.sql`insert into accounts (id, name, time_zone, country) values ('ex', 'E', 'UTC', 'US')`;
    const pkg = await give(sql, 'ex', 'sms', 40, { expiresAt: new Date(Date.now() - 60_000),
      from: new Date(Date.now() - 86_400_000) });
    await put('/v1/accounts/ex/lists/a/limits/sms', { period: 'total', limit_credits: 30 });
    await put('/v1/accounts/ex/lists/b/limits/sms', { period: 'total', limit_credits: 20 });
    await expireGrant(sql, 'ex-1', pkg.grant_id, new Date());
    const res = await h.call('GET', '/v1/accounts/ex/lists/expiry-allocations', { key: h.keys.support });
    expect(res.body.allocations.map((a: Record<string, unknown>) => [a.list, a.assigned_before_credits, a.taken_credits]))
      .toEqual([[null, null, 0], ['a', 30, 24], ['b', 20, 16]]);
  });

  it('usage refused for a list over its limit writes nothing (the code the usage API is to answer)', async () => {
    const usage = createUsageService({ sql: h.db.sql, signaler: noSignals, graceWindowS: 3600, now: () => new Date() });
    await put('/v1/accounts/li/lists/tiny/limits/sms', { period: 'month', limit_credits: 2 });
    const [ok, refused] = await usage.ingestBatch([
      { event_id: 't1', account_id: 'li', credit_type: 'sms', amount_credits: 2, list: 'tiny' },
      { event_id: 't2', account_id: 'li', credit_type: 'sms', amount_credits: 1, list: 'tiny' }]);
    expect(ok).toMatchObject({ status: 'accepted' });
    expect(refused).toMatchObject({ status: 'refused', code: 'list_limit_exceeded', remaining_credits: 0 });
  });
});

describe('list limits reject bad input', () => {
  it.each([
    [{ period: 'week', limit_credits: 10 }, ['period']],
    [{ period: 'month', limit_credits: 0 }, ['limit_credits']],
    [{ period: 'month', limit_credits: -5 }, ['limit_credits']],
    [{ period: 'month', limit_credits: 1.5 }, ['limit_credits']],
    [{ period: 'month', limit_credits: '10' }, ['limit_credits']],
    [{ period: 'month' }, ['limit_credits']],
    [{ period: 'month', limit_credits: 10, list: 'x' }, []],
  ])('%j → 400 naming %j', async (body, fields) => {
    const p = expectProblem(await put('/v1/accounts/li/lists/a/limits/sms', body), 400, 'validation_failed');
    expect(p.errors!.map((e) => e.path[0]).filter((f) => f !== undefined)).toEqual(fields);
  });

  it('a list name over 200 characters or a bad account id is named in params', async () => {
    const p = expectProblem(await put(`/v1/accounts/-li/lists/${'x'.repeat(201)}/limits/sms`,
      { period: 'total', limit_credits: 1 }), 400, 'validation_failed');
    expect(p.errors!.map((e) => `${e.in}.${e.path[0]}`).sort()).toEqual(['params.id', 'params.list']);
  });

  it('an unknown credit type is a 422; an unknown account a 404; nothing is set', async () => {
    expectProblem(await put('/v1/accounts/li/lists/a/limits/gold', { period: 'total', limit_credits: 1 }), 422,
      'unknown_credit_type');
    expectProblem(await put('/v1/accounts/nobody/lists/a/limits/sms', { period: 'total', limit_credits: 1 }), 404,
      'not_found');
    expectProblem(await h.call('GET', '/v1/accounts/nobody/lists', { key: h.keys.support }), 404, 'not_found');
    const [n] = await h.db.sql`select count(*)::int as n from list_limits where list = 'a' and account_id <> 'ex'`;
    expect(n!.n).toBe(0);
  });

  it('expiry allocations page size is checked', async () => {
    expectProblem(await h.call('GET', '/v1/accounts/li/lists/expiry-allocations?limit=0', { key: h.keys.support }), 400,
      'validation_failed');
  });
});
