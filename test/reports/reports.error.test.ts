import { beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, useApi } from '../support/api';
import { createParent, createSub } from './harness';

const h = useApi();

beforeAll(async () => {
  await createParent(h.db.sql, 'acc');
  await createSub(h.db.sql, 'acc', 'acc-sub', false);
  await createParent(h.db.sql, 'other');
  await createSub(h.db.sql, 'other', 'other-sub', true);
});

const get = (path: string) => h.call('GET', path, { key: h.keys.support });
const RANGE = 'from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z';
const LONG = 'x'.repeat(201);

describe('spend report rejects bad input', () => {
  it.each([
    ['granularity=hour', ['granularity']],
    ['group_by=list,campaign', ['group_by']],
    ['group_by=list,,sub_account', ['group_by']],
    ['from=yesterday', ['from']],
    ['to=2026-01-01', ['to']],
    ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', ['to']],
    ['from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', ['to']],
    ['from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', ['to']],
    [`list=${LONG}`, ['list']],
    [`credit_type=${'c'.repeat(65)}`, ['credit_type']],
    ['granularity=year&from=x', ['from', 'granularity']],
  ])('?%s → 400 validation_failed naming %j', async (query, fields) => {
    const p = expectProblem(await get(`/v1/accounts/acc/reports/spend?${query}`), 400, 'validation_failed');
    expect(p.errors!.map((e) => e.path[0]).sort()).toEqual(fields);
    expect(p.errors!.every((e) => e.in === 'query')).toBe(true);
  });

  it('a `from` later than now, with `to` left to its default, is refused', async () => {
    const p = expectProblem(await get('/v1/accounts/acc/reports/spend?from=2999-01-01T00:00:00Z'), 400, 'validation_failed');
    expect(p.errors).toEqual([expect.objectContaining({ in: 'query', path: ['from'] })]);
  });

  it('a `from` over 1100 days before the default `to` is refused', async () => {
    const p = expectProblem(await get('/v1/accounts/acc/reports/spend?from=2001-01-01T00:00:00Z'), 400, 'validation_failed');
    expect(p.detail).toMatch(/1100 days/);
  });

  it('a bad account id is named in params', async () => {
    const p = expectProblem(await get('/v1/accounts/-bad/reports/spend'), 400, 'validation_failed');
    expect(p.errors).toEqual([expect.objectContaining({ in: 'params', path: ['id'] })]);
  });

  it('an unknown account → 404', async () => {
    expectProblem(await get('/v1/accounts/nobody/reports/spend'), 404, 'not_found');
  });

  it.each(['other-sub', 'other', 'nobody'])('sub_account=%s, not under acc → 404', async (sub) => {
    expectProblem(await get(`/v1/accounts/acc/reports/spend?sub_account=${sub}`), 404, 'not_found');
  });

  it('a sub-account cannot report on its parent', async () => {
    expectProblem(await get('/v1/accounts/acc-sub/reports/spend?sub_account=acc'), 404, 'not_found');
  });
});

describe('list events reject bad input', () => {
  it.each([
    ['', ['list']],
    ['list=', ['list']],
    [`list=${LONG}`, ['list']],
    ['list=a&limit=0', ['limit']],
    ['list=a&limit=501', ['limit']],
    ['list=a&limit=2.5', ['limit']],
    ['list=a&from=2026-03-01T00:00:00Z&to=2026-02-01T00:00:00Z', ['to']],
  ])('?%s → 400 validation_failed naming %j', async (query, fields) => {
    const p = expectProblem(await get(`/v1/accounts/acc/reports/list-events?${query}`), 400, 'validation_failed');
    expect(p.errors!.map((e) => e.path[0])).toEqual(fields);
  });

  it.each(['garbage', Buffer.from('["not a date","k"]').toString('base64url'), Buffer.from('{}').toString('base64url')])(
    'after=%s (not a cursor this API gave) → 400', async (after) => {
      const p = expectProblem(await get(`/v1/accounts/acc/reports/list-events?list=a&after=${after}`), 400,
        'validation_failed');
      expect(p.errors).toEqual([expect.objectContaining({ in: 'query', path: ['after'] })]);
    });

  it('an unknown account → 404', async () => {
    expectProblem(await get('/v1/accounts/nobody/reports/list-events?list=a'), 404, 'not_found');
  });
});

describe('exports reject bad input before sending a byte', () => {
  it.each(['spend', 'list-events'])('%s: no format → 400 naming format', async (report) => {
    const list = report === 'list-events' ? 'list=a&' : '';
    const p = expectProblem(await get(`/v1/accounts/acc/reports/${report}/export?${list}${RANGE}`), 400, 'validation_failed');
    expect(p.errors).toEqual([expect.objectContaining({ in: 'query', path: ['format'] })]);
  });

  it.each(['pdf', 'XLSX', 'csv,xlsx'])('format=%s → 400', async (format) => {
    expectProblem(await get(`/v1/accounts/acc/reports/spend/export?format=${format}`), 400, 'validation_failed');
  });

  it('every issue at once: a bad id and a bad range', async () => {
    const p = expectProblem(await get('/v1/accounts/-bad/reports/list-events/export?format=csv&from=x'), 400,
      'validation_failed');
    expect(p.errors!.map((e) => `${e.in}.${e.path.join('.')}`).sort()).toEqual(['params.id', 'query.from', 'query.list']);
  });

  it('an unknown account → 404 problem, not a file', async () => {
    const res = await get('/v1/accounts/nobody/reports/spend/export?format=xlsx');
    expectProblem(res, 404, 'not_found');
    expect(res.headers.get('content-disposition')).toBeNull();
  });

  it('an unknown sub-account → 404', async () => {
    expectProblem(await get('/v1/accounts/acc/reports/spend/export?format=csv&sub_account=other-sub'), 404, 'not_found');
  });
});
