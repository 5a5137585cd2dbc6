import { describe, expect, it } from 'vitest';
import { expectNoWrites, expectProblem, useApi } from '../support/api';

const h = useApi();

describe('API keys reject bad input and write nothing', () => {
  it.each([
    ['no body', undefined],
    ['an unknown role', { role: 'root', label: 'x' }],
    ['no label', { role: 'ops' }],
    ['a blank label', { role: 'ops', label: '  ' }],
    ['a label too long', { role: 'ops', label: 'x'.repeat(101) }],
    ['a key supplied by the caller', { role: 'ops', label: 'x', key: 'cf_mine' }],
  ])('%s → 400 validation_failed', async (_label, body) => {
    await expectNoWrites(h, async () => {
      expectProblem(await h.call('POST', '/v1/api-keys', { key: h.keys.admin, body }), 400, 'validation_failed');
    });
  });

  it('revoking an unknown key → 404 not_found', async () => {
    await expectNoWrites(h, async () => {
      expectProblem(await h.call('DELETE', '/v1/api-keys/key_nope', { key: h.keys.admin }), 404, 'not_found');
    });
  });

  it('revoking with an over-long id → 400 validation_failed', async () => {
    const p = expectProblem(await h.call('DELETE', `/v1/api-keys/${'k'.repeat(65)}`, { key: h.keys.admin }), 400, 'validation_failed');
    expect(p.errors![0]).toMatchObject({ in: 'params', path: ['id'] });
  });
});
