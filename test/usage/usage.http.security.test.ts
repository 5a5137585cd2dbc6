import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/api/auth';
import { expectNoWrites, expectProblem, idem, useApi, type CallOptions } from '../support/api';
import { seedAccount, traces } from './harness';

const h = useApi();
let acc = '';
let hold = '';

interface RouteCase {
  method: 'get' | 'post';
  path: string;
  /** Roles allowed besides admin. */
  allowed: readonly Role[];
  request: () => { url: string } & Omit<CallOptions, 'key'>;
  allowedStatus: number;
}

const USAGE_WRITERS: Role[] = ['ingest'];
const HOLD_WRITERS: Role[] = ['ingest'];
// Every read role (src/api/README.md), and the sender that makes holds.
const HOLD_READERS: Role[] = ['ingest', 'billing', 'ops', 'support'];

const ROUTES: RouteCase[] = [
  { method: 'post', path: '/v1/usage', allowed: USAGE_WRITERS, allowedStatus: 201,
    request: () => ({ url: '/v1/usage', body: { event_id: randomUUID(), account_id: acc, credit_type: 'sms', amount_credits: 1 } }) },
  { method: 'post', path: '/v1/usage/batch', allowed: USAGE_WRITERS, allowedStatus: 200,
    request: () => ({ url: '/v1/usage/batch', body: { events: [{ event_id: randomUUID(), account_id: acc, credit_type: 'sms',
      amount_credits: 1 }] } }) },
  { method: 'post', path: '/v1/accounts/{id}/holds', allowed: HOLD_WRITERS, allowedStatus: 201,
    request: () => ({ url: `/v1/accounts/${acc}/holds`, headers: idem(randomUUID()),
      body: { credit_type: 'sms', amount_credits: 1, ttl_s: 60 } }) },
  // The hold was released in beforeAll: a commit answers 409 (past auth, before any write), a release its replay.
  { method: 'post', path: '/v1/holds/{id}/commit', allowed: HOLD_WRITERS, allowedStatus: 409,
    request: () => ({ url: `/v1/holds/${hold}/commit`, body: { amount_credits: 1 } }) },
  { method: 'post', path: '/v1/holds/{id}/release', allowed: HOLD_WRITERS, allowedStatus: 200,
    request: () => ({ url: `/v1/holds/${hold}/release` }) },
  { method: 'get', path: '/v1/holds/{id}', allowed: HOLD_READERS, allowedStatus: 200,
    request: () => ({ url: `/v1/holds/${hold}` }) },
  { method: 'get', path: '/v1/accounts/{id}/holds', allowed: HOLD_READERS, allowedStatus: 200,
    request: () => ({ url: `/v1/accounts/${acc}/holds` }) },
];

beforeAll(async () => {
  acc = await seedAccount(h.db.sql, 'http-roles', { sms: 1000 });
  const r = await h.call('POST', `/v1/accounts/${acc}/holds`, { key: h.keys.admin, headers: idem('roles-hold'),
    body: { credit_type: 'sms', amount_credits: 5, ttl_s: 3600 } });
  hold = r.body.hold_id;
  await h.call('POST', `/v1/holds/${hold}/release`, { key: h.keys.admin });
});

it('covers every usage and hold route the app serves, with the roles it declares', () => {
  const mine = /^\/v1\/(usage|holds|accounts\/\{id\}\/holds)/;
  const served = h.app.locals.routes.filter((r) => mine.test(r.path))
    .map((r) => ({ route: `${r.method} ${r.path}`, roles: [...r.roles].sort() }));
  expect(ROUTES.map((r) => ({ route: `${r.method} ${r.path}`, roles: [...r.allowed].sort() }))).toEqual(served);
});

describe.each(ROUTES)('$method $path', (c) => {
  const send = (key: string | undefined) => {
    const { url, ...rest } = c.request();
    return h.call(c.method.toUpperCase(), url, { ...rest, key });
  };
  const nothingWritten = async (act: () => Promise<unknown>) => {
    const before = await traces(h.db.sql, acc);
    await expectNoWrites(h, act);
    expect(await traces(h.db.sql, acc)).toEqual(before);
  };

  it('without a key, or with a revoked one → 401, nothing written', async () => {
    await nothingWritten(async () => {
      expectProblem(await send(undefined), 401, 'unauthenticated');
      expectProblem(await send(h.revokedKey), 401, 'unauthenticated');
    });
  });

  const denied = ROLES.filter((r) => r !== 'admin' && !c.allowed.includes(r));
  if (denied.length > 0) {
    it.each(denied)('as %s → 403, nothing written', async (role) => {
      await nothingWritten(async () => expectProblem(await send(h.keys[role]), 403, 'forbidden'));
    });
  }

  it.each(['admin', ...c.allowed] as Role[])('as %s → allowed', async (role) => {
    const res = await send(h.keys[role]);
    expect(res.status, JSON.stringify(res.body)).toBe(c.allowedStatus);
  });
});
