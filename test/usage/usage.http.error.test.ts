import { describe, expect, it } from 'vitest';
import { expectNoWrites, expectProblem, useApi } from '../support/api';
import { seedAccount, traces } from './harness';

const h = useApi();

const post = (body: unknown, path = '/v1/usage') => h.call('POST', path, { key: h.keys.ingest, body });

describe('POST /v1/usage refusals', () => {
  it('a body that is not a usage event → 400 with every issue, nothing written', async () => {
    await expectNoWrites(h, async () => {
      const p = expectProblem(await post({ event_id: '', account_id: 'a', credit_type: 'sms', colour: 'red',
        occurred_at: 'yesterday' }), 400, 'validation_failed');
      expect(p.errors!.map((e) => [e.in, e.path.join('.')])).toEqual(expect.arrayContaining([
        ['body', 'event_id'], ['body', 'occurred_at'], ['body', ''],
      ]));
    });
    expectProblem(await post({ event_id: 'x', account_id: 'a', credit_type: 'sms' }), 400, 'validation_failed');
    expectProblem(await h.call('POST', '/v1/usage', { key: h.keys.ingest, rawBody: 'event_id=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    expectProblem(await h.call('POST', '/v1/usage', { key: h.keys.ingest, rawBody: '{"event_id":',
      headers: { 'content-type': 'application/json' } }), 400, 'bad_request');
  });

  it('refusals are problems carrying the usage refusal code, and write nothing', async () => {
    const acc = await seedAccount(h.db.sql, 'http-refuse', { sms: 2 });
    const before = await traces(h.db.sql, acc);
    const event = { event_id: 'r', account_id: acc, credit_type: 'sms' };
    await expectNoWrites(h, async () => {
      expect(expectProblem(await post({ ...event, amount_credits: 3 }), 422, 'insufficient_credits'))
        .toMatchObject({ refusal: 'insufficient_credits', event_id: 'r', available_credits: 2, requested_credits: 3 });
      expect(expectProblem(await post({ ...event, account_id: 'nobody', amount_credits: 1 }), 404, 'not_found'))
        .toMatchObject({ refusal: 'unknown_account' });
      expect(expectProblem(await post({ ...event, credit_type: 'fax', amount_credits: 1 }), 422, 'unknown_credit_type'))
        .toMatchObject({ refusal: 'unknown_credit_type' });
      expect(expectProblem(await post({ ...event, sms: { to_country: 'KP', text: 'hi' } }), 422, 'unrateable'))
        .toMatchObject({ refusal: 'unrateable', errors: [{ in: 'body', path: ['sms'] }] });
      const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
      expect(expectProblem(await post({ ...event, amount_credits: 1, occurred_at: old }), 422, 'timestamp_outside_grace'))
        .toMatchObject({ refusal: 'timestamp_outside_grace', errors: [{ in: 'body', path: ['occurred_at'] }] });
    });
    expect(await traces(h.db.sql, acc)).toEqual(before);
    // The event is still new: it goes through once it fits.
    expect((await post({ ...event, amount_credits: 2 })).status).toBe(201);
  });
});

describe('NUL (U+0000), which PostgreSQL cannot store', () => {
  it('in a single event\'s metadata → 400 validation_failed naming it, nothing written', async () => {
    const acc = await seedAccount(h.db.sql, 'http-nul', { sms: 10 });
    const event = { event_id: 'nul-1', account_id: acc, credit_type: 'sms', amount_credits: 1 };
    await expectNoWrites(h, async () => {
      const p = expectProblem(await post({ ...event, metadata: { campaign: 'a\u0000b' } }), 400, 'validation_failed');
      expect(p.errors).toContainEqual(expect.objectContaining({ in: 'body', path: ['metadata', 'campaign'] }));
      const k = expectProblem(await post({ ...event, metadata: { ['c\u0000']: 'x' } }), 400, 'validation_failed');
      expect(k.errors).toContainEqual(expect.objectContaining({ in: 'body', path: ['metadata', 'c\u0000'] }));
    });
    // The same event without it goes through: nothing of the refused one was kept.
    expect((await post({ ...event, metadata: { campaign: 'ab' } })).status).toBe(201);
  });

  it('in one event of a batch → the whole batch is 400 validation_failed naming it, nothing written', async () => {
    const acc = await seedAccount(h.db.sql, 'http-nul-batch', { sms: 10 });
    const events = [
      { event_id: 'b-ok', account_id: acc, credit_type: 'sms', amount_credits: 1 },
      { event_id: 'b-nul', account_id: acc, credit_type: 'sms', amount_credits: 1, metadata: { note: '\u0000' } },
    ];
    await expectNoWrites(h, async () => {
      const p = expectProblem(await post({ events }, '/v1/usage/batch'), 400, 'validation_failed');
      expect(p.errors).toEqual([expect.objectContaining({ in: 'body', path: ['events', 1, 'metadata', 'note'] })]);
    });
    expect(await traces(h.db.sql, acc)).toMatchObject({ usage_events: 0 });
  });
});

describe('POST /v1/usage/batch refusals', () => {
  it('refuses a batch that is not a list of 1 to 1000 events, as a whole', async () => {
    await expectNoWrites(h, async () => {
      expectProblem(await post({ events: [] }, '/v1/usage/batch'), 400, 'validation_failed');
      expectProblem(await post({ events: Array.from({ length: 1001 }, () => ({})) }, '/v1/usage/batch'), 400,
        'validation_failed');
      expectProblem(await post({ events: {} }, '/v1/usage/batch'), 400, 'validation_failed');
      expectProblem(await post({ events: [{}], extra: true }, '/v1/usage/batch'), 400, 'validation_failed');
      expectProblem(await post([], '/v1/usage/batch'), 400, 'validation_failed');
    });
  });

  it('refuses a body beyond 4 MB', async () => {
    const huge = { events: [{ event_id: 'big', account_id: 'a', credit_type: 'sms', metadata: { x: 'y'.repeat(5_000_000) } }] };
    expectProblem(await post(huge, '/v1/usage/batch'), 413, 'payload_too_large');
  });

  it('answers bad events one by one and keeps the good ones', async () => {
    const acc = await seedAccount(h.db.sql, 'http-mixed', { sms: 1 });
    const r = await post({ events: [
      { event_id: 'ok', account_id: acc, credit_type: 'sms', amount_credits: 1 },
      { event_id: 'bad', account_id: acc, credit_type: 'sms', amount_credits: -1 },
      { event_id: 'late', account_id: acc, credit_type: 'sms', amount_credits: 1,
        occurred_at: new Date(Date.now() - 2 * 86_400_000).toISOString() },
      42,
    ] }, '/v1/usage/batch');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, refused: 3, results: [
      { status: 'accepted' },
      { status: 'refused', code: 'invalid_event', event_id: 'bad', issues: [{ path: 'amount_credits' }] },
      { status: 'refused', code: 'timestamp_outside_grace' },
      { status: 'refused', code: 'invalid_event', event_id: null },
    ] });
  });
});
