import { describe, expect, it } from 'vitest';
import { expectNoWrites, expectProblem, idem, useApi } from '../support/api';
import { availableCredits, seedAccount, traces } from '../usage/harness';

const h = useApi();

const reserve = (acc: string, key: string, body: unknown, apiKey = h.keys.ingest) =>
  h.call('POST', `/v1/accounts/${acc}/holds`, { key: apiKey, headers: idem(key), body });

describe('holds over HTTP', () => {
  it('reserve, replay, commit part, read back', async () => {
    const acc = await seedAccount(h.db.sql, 'http-hold', { sms: 100 });
    const held = await reserve(acc, 'campaign-7', { credit_type: 'sms', amount_credits: 40, ttl_s: 900 });
    expect(held.status).toBe(201);
    expect(held.body).toMatchObject({ status: 'held', account_id: acc, credit_type: 'sms', amount_credits: 40,
      available_after_credits: 60, duplicate: false });
    const again = await reserve(acc, 'campaign-7', { credit_type: 'sms', amount_credits: 40, ttl_s: 900 });
    expect(again).toMatchObject({ status: 200, body: { ...held.body, duplicate: true } });
    expect(await availableCredits(h.db.sql, acc, 'sms', new Date())).toBe(60);

    const id = held.body.hold_id as string;
    const committed = await h.call('POST', `/v1/holds/${id}/commit`, { key: h.keys.ingest,
      body: { amount_credits: 25, metadata: { campaign: 'spring' } } });
    expect(committed).toMatchObject({ status: 200, body: { status: 'committed', drawn_credits: 25, released_credits: 15,
      available_after_credits: 75, duplicate: false } });
    expect((await h.call('POST', `/v1/holds/${id}/commit`, { key: h.keys.ingest, body: { amount_credits: 25 } })).body)
      .toMatchObject({ duplicate: true, drawn_credits: 25 });

    const got = await h.call('GET', `/v1/holds/${id}`, { key: h.keys.support });
    expect(got).toMatchObject({ status: 200, body: { hold_id: id, status: 'committed', amount_credits: 40 } });
    const list = await h.call('GET', `/v1/accounts/${acc}/holds`, { key: h.keys.ops });
    expect(list.body.holds).toHaveLength(1);
  });

  it('release gives everything back', async () => {
    const acc = await seedAccount(h.db.sql, 'http-release', { sms: 10 });
    const held = await reserve(acc, 'r', { credit_type: 'sms', amount_credits: 10, ttl_s: 60 });
    const r = await h.call('POST', `/v1/holds/${held.body.hold_id}/release`, { key: h.keys.ingest });
    expect(r).toMatchObject({ status: 200, body: { status: 'released', released_credits: 10 } });
    expect(await availableCredits(h.db.sql, acc, 'sms', new Date())).toBe(10);
  });

  it('refusals are problems and write nothing', async () => {
    const acc = await seedAccount(h.db.sql, 'http-hold-refuse', { sms: 10 });
    const held = await reserve(acc, 'first', { credit_type: 'sms', amount_credits: 8, ttl_s: 60 });
    const id = held.body.hold_id as string;
    const before = await traces(h.db.sql, acc);
    await expectNoWrites(h, async () => {
      expect(expectProblem(await reserve(acc, 'second', { credit_type: 'sms', amount_credits: 3, ttl_s: 60 }), 422,
        'insufficient_credits')).toMatchObject({ refusal: 'insufficient_credits', available_credits: 2 });
      expectProblem(await reserve('nobody', 'x', { credit_type: 'sms', amount_credits: 1, ttl_s: 60 }), 404, 'not_found');
      expectProblem(await reserve(acc, 'x', { credit_type: 'fax', amount_credits: 1, ttl_s: 60 }), 422, 'unknown_credit_type');
      expectProblem(await reserve(acc, 'x', { credit_type: 'sms', amount_credits: 1, ttl_s: 0 }), 400, 'validation_failed');
      expectProblem(await h.call('POST', `/v1/accounts/${acc}/holds`, { key: h.keys.ingest,
        body: { credit_type: 'sms', amount_credits: 1, ttl_s: 60 } }), 400, 'validation_failed'); // no Idempotency-Key
      expect(expectProblem(await h.call('POST', `/v1/holds/${id}/commit`, { key: h.keys.ingest,
        body: { amount_credits: 9 } }), 422, 'hold_exceeded')).toMatchObject({ refusal: 'hold_exceeded', held_credits: 8 });
      expectProblem(await h.call('POST', '/v1/holds/not-a-uuid/release', { key: h.keys.ingest }), 400, 'validation_failed');
      expectProblem(await h.call('POST', '/v1/holds/00000000-0000-7000-8000-000000000000/release', { key: h.keys.ingest }),
        404, 'not_found');
      expectProblem(await h.call('GET', '/v1/holds/00000000-0000-7000-8000-000000000000', { key: h.keys.support }),
        404, 'not_found');
      expectProblem(await h.call('GET', '/v1/accounts/nobody/holds', { key: h.keys.support }), 404, 'not_found');
    });
    expect(await traces(h.db.sql, acc)).toEqual(before);

    await h.call('POST', `/v1/holds/${id}/release`, { key: h.keys.ingest });
    expect(expectProblem(await h.call('POST', `/v1/holds/${id}/commit`, { key: h.keys.ingest, body: { amount_credits: 1 } }),
      409, 'hold_not_active')).toMatchObject({ refusal: 'hold_not_active' });
    expect(expectProblem(await reserve(acc, 'first', { credit_type: 'sms', amount_credits: 7, ttl_s: 60 }), 409,
      'idempotency_conflict')).toMatchObject({ refusal: 'idempotency_conflict' });
  });
});
