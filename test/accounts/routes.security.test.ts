import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/api/auth';
import { expectNoWrites, expectProblem, idem, useApi, type CallOptions } from '../support/api';
import { createSub } from './harness';

/**
 * The role matrix of the agency, list and forecast routes (reports have theirs in test/reports). These rows belong in
 * test/api/routes.security.test.ts's ROUTES too, which checks that every served route has one.
 */
const h = useApi();
const READERS: Role[] = ['billing', 'ops', 'support'];

interface RouteCase {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  allowed: readonly Role[];
  request: () => { url: string } & Omit<CallOptions, 'key'>;
  allowedStatus: number;
}

const AGENCY_ROUTES: RouteCase[] = [
  { method: 'post', path: '/v1/accounts/{id}/sub-accounts', allowed: ['billing'], allowedStatus: 201,
    request: () => ({ url: '/v1/accounts/sec/sub-accounts', body: { id: `s-${randomUUID()}`, name: 'n', shared_billing: true } }) },
  { method: 'get', path: '/v1/accounts/{id}/sub-accounts', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/sec/sub-accounts' }) },
  { method: 'post', path: '/v1/accounts/{id}/shared-billing', allowed: ['billing'], allowedStatus: 409,
    request: () => ({ url: '/v1/accounts/sec-sub/shared-billing', headers: idem(randomUUID()),
      body: { shared_billing: true, reason: 'matrix' } }) },
  { method: 'get', path: '/v1/accounts/{id}/billing-changes', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/sec/billing-changes' }) },
  { method: 'get', path: '/v1/accounts/{id}/packages', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/sec-sub/packages' }) },
  { method: 'get', path: '/v1/accounts/{id}/forecast', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/sec/forecast' }) },
  { method: 'get', path: '/v1/accounts/{id}/lists', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/sec/lists' }) },
  { method: 'put', path: '/v1/accounts/{id}/lists/{list}/limits/{credit_type}', allowed: ['ops'], allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/sec/lists/matrix/limits/sms', body: { period: 'month', limit_credits: 5 } }) },
  { method: 'delete', path: '/v1/accounts/{id}/lists/{list}/limits/{credit_type}', allowed: ['ops'], allowedStatus: 404,
    request: () => ({ url: '/v1/accounts/sec/lists/never-limited/limits/sms' }) },
  { method: 'get', path: '/v1/accounts/{id}/lists/expiry-allocations', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/sec/lists/expiry-allocations' }) },
];

beforeAll(async () => {
  await h.db.sql`insert into accounts (id, name, time_zone, country) values ('sec', 'S', 'UTC', 'US')`;
  await createSub(h.db.sql, 'sec', 'sec-sub', true);
});

it('these are all the routes the agency, list and forecast modules serve, with the roles they declare', () => {
  const mine = /\/(sub-accounts|shared-billing|billing-changes|packages|forecast|lists)(\/|$)/;
  const byRoute = (a: { route: string }, b: { route: string }) => (a.route < b.route ? -1 : 1);
  const served = h.app.locals.routes.filter((r) => mine.test(r.path))
    .map((r) => ({ route: `${r.method} ${r.path}`, roles: [...r.roles].sort() })).sort(byRoute);
  expect(AGENCY_ROUTES.map((r) => ({ route: `${r.method} ${r.path}`, roles: [...r.allowed].sort() })).sort(byRoute))
    .toEqual(served);
});

describe.each(AGENCY_ROUTES)('$method $path', (c) => {
  const send = (key: string | undefined) => {
    const { url, ...rest } = c.request();
    return h.call(c.method.toUpperCase(), url, { ...rest, key });
  };

  it('without a key → 401, nothing written', async () => {
    await expectNoWrites(h, async () => expectProblem(await send(undefined), 401, 'unauthenticated'));
  });

  it('with an unknown or revoked key → 401', async () => {
    expectProblem(await send(`cf_${randomUUID()}`), 401, 'unauthenticated');
    expectProblem(await send(h.revokedKey), 401, 'unauthenticated');
  });

  const denied = ROLES.filter((r) => r !== 'admin' && !c.allowed.includes(r));
  it.each(denied)('as %s → 403, nothing written', async (role) => {
    const before = await h.db.sql`select (select count(*) from list_limit_changes)::int as l,
      (select count(*) from account_billing_changes)::int as b`;
    await expectNoWrites(h, async () => expectProblem(await send(h.keys[role]), 403, 'forbidden'));
    expect(await h.db.sql`select (select count(*) from list_limit_changes)::int as l,
      (select count(*) from account_billing_changes)::int as b`).toEqual(before);
  });

  it.each(['admin', ...c.allowed] as Role[])('as %s → allowed', async (role) => {
    const res = await send(h.keys[role]);
    expect(res.status, JSON.stringify(res.body)).toBe(c.allowedStatus);
  });
});
