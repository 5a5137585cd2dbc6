import { describe, expect, it } from 'vitest';
import { expectProblem, useApi } from '../support/api';

const h = useApi();

describe('grants and entries reject bad input', () => {
  it.each(['grants', 'entries'])('GET %s of an unknown account → 404 not_found', async (what) => {
    expectProblem(await h.call('GET', `/v1/accounts/nobody/${what}`, { key: h.keys.support }), 404, 'not_found');
  });

  it.each([
    ['limit=0', 'limit'], ['limit=501', 'limit'], ['limit=abc', 'limit'], ['limit=1.5', 'limit'],
    ['before=-1', 'before'], ['before=x', 'before'],
  ])('?%s → 400 validation_failed in query', async (q, field) => {
    const p = expectProblem(await h.call('GET', `/v1/accounts/nobody/entries?${q}`, { key: h.keys.support }),
      400, 'validation_failed');
    expect(p.errors).toEqual([expect.objectContaining({ in: 'query', path: [field] })]);
  });
});
