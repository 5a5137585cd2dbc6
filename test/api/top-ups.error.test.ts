import { beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../support/db';
import { expectNoWrites, expectProblem, idem, useApi } from '../support/api';

const h = useApi();
const valid = { credit_type: 'sms', amount_credits: 10, reason: 'test' };
const topUp = (body: unknown, headers: Record<string, string> = idem('k'), account = 'acc-bad') =>
  h.call('POST', `/v1/accounts/${account}/top-ups`, { key: h.keys.ops, headers, body });

describe('POST /v1/accounts/{id}/top-ups rejects bad input and writes nothing', () => {
  beforeAll(async () => {
    await createAccount(h.db.sql, 'acc-bad');
  });

  it.each([
    ['zero credits', { ...valid, amount_credits: 0 }, 'amount_credits'],
    ['negative credits', { ...valid, amount_credits: -5 }, 'amount_credits'],
    ['fractional credits', { ...valid, amount_credits: 1.5 }, 'amount_credits'],
    ['credits as a string', { ...valid, amount_credits: '10' }, 'amount_credits'],
    ['credits past 2^53', { ...valid, amount_credits: 2 ** 53 }, 'amount_credits'],
    ['no reason', { credit_type: 'sms', amount_credits: 10 }, 'reason'],
    ['an expiry without offset', { ...valid, expires_at: '2030-01-01T00:00:00' }, 'expires_at'],
    ['an expiry in the past', { ...valid, expires_at: '2020-01-01T00:00:00Z' }, 'expires_at'],
    ['an unknown field', { ...valid, source: 'bundle' }, undefined],
  ])('%s → 400 validation_failed', async (_label, body, field) => {
    await expectNoWrites(h, async () => {
      const p = expectProblem(await topUp(body), 400, 'validation_failed');
      if (field) expect(p.errors!.map((e) => e.path[0])).toContain(field);
    });
  });

  it.each([
    ['missing', {}],
    ['empty', { 'Idempotency-Key': '' }],
    ['over 200 characters', { 'Idempotency-Key': 'k'.repeat(201) }],
  ])('an Idempotency-Key %s → 400 validation_failed in headers', async (_label, headers) => {
    await expectNoWrites(h, async () => {
      const p = expectProblem(await topUp(valid, headers), 400, 'validation_failed');
      expect(p.errors).toEqual([expect.objectContaining({ in: 'headers', path: ['Idempotency-Key'] })]);
    });
  });

  it('an unknown credit type → 422 unknown_credit_type', async () => {
    await expectNoWrites(h, async () => {
      expectProblem(await topUp({ ...valid, credit_type: 'mms' }), 422, 'unknown_credit_type');
    });
  });

  it('an unknown account → 404 not_found', async () => {
    await expectNoWrites(h, async () => {
      expectProblem(await topUp(valid, idem('k'), 'nobody'), 404, 'not_found');
    });
  });

  it('a NUL (U+0000) in any string of the body, keys included → 400 validation_failed naming it, nothing written', async () => {
    await expectNoWrites(h, async () => {
      const p = expectProblem(await topUp({ ...valid, reason: 'a\u0000b' }), 400, 'validation_failed');
      expect(p.errors).toContainEqual(expect.objectContaining({ in: 'body', path: ['reason'] }));
      expect(p.detail).toContain('body.reason');
      const k = expectProblem(await topUp({ ...valid, ['x\u0000']: 1 }), 400, 'validation_failed');
      expect(k.errors).toContainEqual(expect.objectContaining({ in: 'body', path: ['x\u0000'] }));
    });
  });

  it('a NUL in a query or path parameter → 400 validation_failed, not a database error', async () => {
    const entries = await h.call('GET', '/v1/accounts/acc-bad/entries?credit_type=s%00ms', { key: h.keys.ops });
    expect(expectProblem(entries, 400, 'validation_failed').errors)
      .toContainEqual(expect.objectContaining({ in: 'query', path: ['credit_type'] }));
    await expectNoWrites(h, async () => {
      const p = expectProblem(await topUp(valid, idem('k'), 'acc%00bad'), 400, 'validation_failed');
      expect(p.errors).toContainEqual(expect.objectContaining({ in: 'params', path: ['id'] }));
    });
  });

  it('the same Idempotency-Key with another amount → 409 idempotency_conflict, the first grant alone', async () => {
    expect((await topUp(valid, idem('reused'))).status).toBe(201);
    await expectNoWrites(h, async () => {
      expectProblem(await topUp({ ...valid, amount_credits: 11 }, idem('reused')), 409, 'idempotency_conflict');
      expectProblem(await topUp({ ...valid, credit_type: 'voice_local_min' }, idem('reused')), 409, 'idempotency_conflict');
    });
  });
});
