import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/api/auth';
import { createAccount } from '../support/db';
import { expectNoWrites, expectProblem, idem, useApi, type CallOptions } from '../support/api';

// A Temporal dev server without a worker: allowed callers of subscription actions reach Temporal and get a 404 for
// a subscription that does not exist, which is enough to prove they got past authentication and authorisation.
const h = useApi({ temporal: 'server' });

interface RouteCase {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  /** Roles allowed besides admin. */
  allowed: readonly Role[];
  /** A request an allowed caller may send, and what it answers. */
  request: () => { url: string } & Omit<CallOptions, 'key'>;
  allowedStatus: number;
}

const EVERYONE: Role[] = ['billing', 'ops', 'support', 'ingest'];
const READERS: Role[] = ['billing', 'ops', 'support'];
const sub = (action: string, body?: unknown) => () => ({
  url: `/v1/subscriptions/sub-none/${action}`, headers: idem(randomUUID()), body,
});
const ALERTS = { thresholds: [{ credit_type: 'sms', credits: 10 }], expiring_soon_notice_ms: 86_400_000 };
const AUTO = { enabled: true, bundle_id: 'sms-payg-500', trigger_below_credits: 10, max_purchases_per_month: 2,
  max_spend_minor_per_month: 10_000 };

const ROUTES: RouteCase[] = [
  { method: 'post', path: '/v1/accounts', allowed: ['billing'], allowedStatus: 201,
    request: () => ({ url: '/v1/accounts', body: { id: `acc-${randomUUID()}`, name: 'n', time_zone: 'UTC', country: 'US' } }) },
  { method: 'get', path: '/v1/accounts/{id}', allowed: EVERYONE, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec' }) },
  { method: 'post', path: '/v1/api-keys', allowed: [], allowedStatus: 201,
    request: () => ({ url: '/v1/api-keys', body: { role: 'support', label: 'matrix' } }) },
  { method: 'get', path: '/v1/api-keys', allowed: [], allowedStatus: 200, request: () => ({ url: '/v1/api-keys' }) },
  { method: 'delete', path: '/v1/api-keys/{id}', allowed: [], allowedStatus: 404,
    request: () => ({ url: '/v1/api-keys/key_unknown' }) },
  { method: 'get', path: '/v1/catalog', allowed: EVERYONE, allowedStatus: 200, request: () => ({ url: '/v1/catalog' }) },
  { method: 'post', path: '/v1/accounts/{id}/top-ups', allowed: ['ops'], allowedStatus: 201,
    request: () => ({ url: '/v1/accounts/acc-sec/top-ups', headers: idem(randomUUID()),
      body: { credit_type: 'sms', amount_credits: 1, reason: 'matrix' } }) },
  { method: 'get', path: '/v1/accounts/{id}/grants', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/grants' }) },
  { method: 'get', path: '/v1/accounts/{id}/entries', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/entries?limit=5' }) },
  { method: 'post', path: '/v1/subscriptions', allowed: ['billing'], allowedStatus: 422,
    request: () => ({ url: '/v1/subscriptions', body: { subscription_id: 'sub-m', account_id: 'acc-sec', plan_id: 'nope' } }) },
  { method: 'get', path: '/v1/subscriptions/{id}', allowed: EVERYONE, allowedStatus: 404,
    request: () => ({ url: '/v1/subscriptions/sub-none' }) },
  { method: 'post', path: '/v1/subscriptions/{id}/stop-renewal', allowed: ['ops'], allowedStatus: 404, request: sub('stop-renewal') },
  { method: 'post', path: '/v1/subscriptions/{id}/resume-renewal', allowed: ['ops'], allowedStatus: 404, request: sub('resume-renewal') },
  { method: 'post', path: '/v1/subscriptions/{id}/cancel', allowed: ['ops'], allowedStatus: 404, request: sub('cancel', {}) },
  { method: 'post', path: '/v1/subscriptions/{id}/change-plan', allowed: ['ops'], allowedStatus: 404,
    request: sub('change-plan', { plan_id: 'sms-1000-rollover' }) },
  { method: 'post', path: '/v1/subscriptions/{id}/bundles', allowed: ['billing'], allowedStatus: 404,
    request: sub('bundles', { bundle_id: 'sms-payg-500' }) },
  { method: 'post', path: '/v1/subscriptions/{id}/alerts', allowed: ['ops'], allowedStatus: 404, request: sub('alerts', ALERTS) },
  { method: 'post', path: '/v1/subscriptions/{id}/auto-repurchase', allowed: ['ops'], allowedStatus: 404,
    request: sub('auto-repurchase', AUTO) },
  { method: 'post', path: '/v1/subscriptions/{id}/auto-repurchase/resume', allowed: ['ops'], allowedStatus: 404,
    request: sub('auto-repurchase/resume') },
  { method: 'get', path: '/v1/accounts/{id}/reports/spend', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/reports/spend' }) },
  { method: 'get', path: '/v1/accounts/{id}/reports/list-events', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/reports/list-events?list=a' }) },
  { method: 'get', path: '/v1/accounts/{id}/forecast', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/forecast' }) },
  { method: 'post', path: '/v1/accounts/{id}/sub-accounts', allowed: ['billing'], allowedStatus: 201,
    request: () => ({ url: '/v1/accounts/acc-sec/sub-accounts', body: { id: `s-${randomUUID()}`, name: 'n', shared_billing: true } }) },
  { method: 'get', path: '/v1/accounts/{id}/sub-accounts', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/sub-accounts' }) },
  { method: 'post', path: '/v1/accounts/{id}/shared-billing', allowed: ['billing'], allowedStatus: 422,
    request: () => ({ url: '/v1/accounts/acc-sec/shared-billing', headers: idem(randomUUID()),
      body: { shared_billing: true, reason: 'matrix' } }) },
  { method: 'get', path: '/v1/accounts/{id}/billing-changes', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/billing-changes' }) },
  { method: 'get', path: '/v1/accounts/{id}/packages', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/packages' }) },
  { method: 'get', path: '/v1/accounts/{id}/lists', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/lists' }) },
  { method: 'put', path: '/v1/accounts/{id}/lists/{list}/limits/{credit_type}', allowed: ['ops'], allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/lists/matrix/limits/sms', body: { period: 'month', limit_credits: 5 } }) },
  { method: 'delete', path: '/v1/accounts/{id}/lists/{list}/limits/{credit_type}', allowed: ['ops'], allowedStatus: 404,
    request: () => ({ url: '/v1/accounts/acc-sec/lists/never-limited/limits/sms' }) },
  { method: 'get', path: '/v1/accounts/{id}/lists/expiry-allocations', allowed: READERS, allowedStatus: 200,
    request: () => ({ url: '/v1/accounts/acc-sec/lists/expiry-allocations' }) },
];

beforeAll(async () => {
  await createAccount(h.db.sql, 'acc-sec');
});

/** Routes whose role matrix lives beside their module's tests (test/usage/usage.http.security.test.ts). */
const MATRIX_ELSEWHERE = /^\/v1\/(usage|holds|accounts\/\{id\}\/holds)/;

it('the matrix covers every route the app serves, with the roles it declares', () => {
  const served = h.app.locals.routes.filter((r) => !MATRIX_ELSEWHERE.test(r.path))
    .map((r) => ({ route: `${r.method} ${r.path}`, roles: [...r.roles].sort() }));
  const tested = ROUTES.map((r) => ({ route: `${r.method} ${r.path}`, roles: [...r.allowed].sort() }));
  expect(tested).toEqual(served);
});

describe.each(ROUTES)('$method $path', (c) => {
  const send = (key: string | undefined, extra: Record<string, string> = {}) => {
    const { url, headers, ...rest } = c.request();
    return h.call(c.method.toUpperCase(), url, { ...rest, key, headers: { ...headers, ...extra } });
  };

  it('without a key → 401, nothing written', async () => {
    await expectNoWrites(h, async () => expectProblem(await send(undefined), 401, 'unauthenticated'));
  });

  it('with an unknown key → 401', async () => {
    await expectNoWrites(h, async () => expectProblem(await send(`cf_${randomUUID()}`), 401, 'unauthenticated'));
  });

  it('with a revoked admin key → 401', async () => {
    await expectNoWrites(h, async () => expectProblem(await send(h.revokedKey), 401, 'unauthenticated'));
  });

  it('with a key in another scheme → 401', async () => {
    await expectNoWrites(h, async () =>
      expectProblem(await send(undefined, { authorization: `Basic ${h.keys.admin}` }), 401, 'unauthenticated'));
  });

  const denied = ROLES.filter((r) => r !== 'admin' && !c.allowed.includes(r));
  if (denied.length > 0) {
    it.each(denied)('as %s → 403, nothing written', async (role) => {
      await expectNoWrites(h, async () => expectProblem(await send(h.keys[role]), 403, 'forbidden'));
    });
  }

  it.each(['admin', ...c.allowed] as Role[])('as %s → allowed', async (role) => {
    const res = await send(h.keys[role]);
    expect(res.status, JSON.stringify(res.body)).toBe(c.allowedStatus);
  });
});
