import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/api/auth';
import { expectProblem, useApi } from '../support/api';
import { createParent } from './harness';

const h = useApi();
const READERS: Role[] = ['billing', 'ops', 'support'];

/** Every reports route, JSON and file alike, with a request an allowed caller may send. */
const ROUTES = [
  { path: '/v1/accounts/{id}/reports/spend', url: '/v1/accounts/sec/reports/spend' },
  { path: '/v1/accounts/{id}/reports/list-events', url: '/v1/accounts/sec/reports/list-events?list=a' },
  { path: '/v1/accounts/{id}/reports/spend/export', url: '/v1/accounts/sec/reports/spend/export?format=csv' },
  { path: '/v1/accounts/{id}/reports/list-events/export', url: '/v1/accounts/sec/reports/list-events/export?list=a&format=xlsx' },
];

beforeAll(async () => {
  await createParent(h.db.sql, 'sec');
});

it('the JSON report routes declare readers; the exports are documented with the same roles', async () => {
  const served = h.app.locals.routes.filter((r) => r.path.includes('/reports/'));
  expect(served.map((r) => [r.method, r.path, [...r.roles].sort()])).toEqual([
    ['get', '/v1/accounts/{id}/reports/spend', READERS],
    ['get', '/v1/accounts/{id}/reports/list-events', READERS],
  ]);
  const doc = (await h.call('GET', '/openapi.json')).body;
  for (const r of ROUTES) {
    expect(doc.paths[r.path].get['x-creditflow-roles'], r.path).toEqual(['admin', ...READERS]);
  }
  expect(Object.keys(doc.paths['/v1/accounts/{id}/reports/spend/export'].get.responses[200].content)).toEqual([
    'text/csv; charset=utf-8', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet']);
});

describe.each(ROUTES)('GET $path', ({ url }) => {
  it('without a key → 401', async () => {
    expectProblem(await h.call('GET', url), 401, 'unauthenticated');
  });

  it('with an unknown key → 401', async () => {
    expectProblem(await h.call('GET', url, { key: `cf_${randomUUID()}` }), 401, 'unauthenticated');
  });

  it('with a revoked admin key → 401', async () => {
    expectProblem(await h.call('GET', url, { key: h.revokedKey }), 401, 'unauthenticated');
  });

  it('authentication comes before validation: a bad request without a key is still a 401', async () => {
    const bad = `${url.replace('/sec/', '/-bad/')}${url.includes('?') ? '&' : '?'}limit=0&format=pdf`;
    expectProblem(await h.call('GET', bad), 401, 'unauthenticated');
  });

  it.each(ROLES.filter((r) => r !== 'admin' && !READERS.includes(r)))('as %s → 403', async (role) => {
    expectProblem(await h.call('GET', url, { key: h.keys[role] }), 403, 'forbidden');
  });

  it.each(['admin', ...READERS] as Role[])('as %s → 200', async (role) => {
    const res = await h.call('GET', url, { key: h.keys[role] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
});
