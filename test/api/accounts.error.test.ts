import { describe, expect, it } from 'vitest';
import { expectNoWrites, expectProblem, useApi } from '../support/api';

const h = useApi();
const valid = { id: 'acc-err', name: 'Err Co', time_zone: 'Europe/Paris', country: 'FR' };

describe('POST /v1/accounts rejects bad input and writes nothing', () => {
  it.each([
    ['an empty body', {}, ['id', 'name', 'time_zone', 'country']],
    ['an unknown time zone', { ...valid, time_zone: 'Mars/Olympus' }, ['time_zone']],
    ['a UTC offset as time zone', { ...valid, time_zone: '+05:00' }, ['time_zone']],
    ['a lowercase country', { ...valid, country: 'fr' }, ['country']],
    ['an unassigned country', { ...valid, country: 'XX' }, ['country']],
    ['a reserved, non-ISO country', { ...valid, country: 'UK' }, ['country']],
    ['an id with a slash', { ...valid, id: 'a/b' }, ['id']],
    ['an id too long', { ...valid, id: 'a'.repeat(129) }, ['id']],
    ['a blank name', { ...valid, name: '   ' }, ['name']],
    ['a field it does not know', { ...valid, parent: 'x' }, []],
    ['a number for a string', { ...valid, name: 42 }, ['name']],
  ])('%s → 400 validation_failed', async (_label, body, paths) => {
    await expectNoWrites(h, async () => {
      const res = await h.call('POST', '/v1/accounts', { key: h.keys.billing, body });
      const p = expectProblem(res, 400, 'validation_failed');
      expect(p.errors!.length).toBeGreaterThan(0);
      for (const e of p.errors!) expect(e.in).toBe('body');
      for (const path of paths) expect(p.errors!.map((e) => e.path[0])).toContain(path);
    });
  });

  it('a JSON array body → 400 validation_failed', async () => {
    await expectNoWrites(h, async () => {
      expectProblem(await h.call('POST', '/v1/accounts', { key: h.keys.billing, body: [valid] }), 400, 'validation_failed');
    });
  });

  it('the same id with other details → 409 account_conflict, the first account untouched', async () => {
    expect((await h.call('POST', '/v1/accounts', { key: h.keys.billing, body: valid })).status).toBe(201);
    await expectNoWrites(h, async () => {
      const res = await h.call('POST', '/v1/accounts', { key: h.keys.billing, body: { ...valid, country: 'DE' } });
      const p = expectProblem(res, 409, 'account_conflict');
      expect(p.account).toMatchObject({ id: 'acc-err', country: 'FR' });
    });
  });
});

describe('GET /v1/accounts/{id}', () => {
  it('an unknown account → 404 not_found', async () => {
    expectProblem(await h.call('GET', '/v1/accounts/nobody', { key: h.keys.support }), 404, 'not_found');
  });

  it('an id that could never exist → 400 validation_failed in params', async () => {
    const p = expectProblem(await h.call('GET', '/v1/accounts/%20bad%20', { key: h.keys.support }), 400, 'validation_failed');
    expect(p.errors![0]).toMatchObject({ in: 'params', path: ['id'] });
  });
});
