import { describe, expect, it } from 'vitest';
import { useApi } from '../support/api';
import { availableCredits, seedAccount } from './harness';

const h = useApi();

describe('POST /v1/usage', () => {
  it('draws the credits of one event and answers a resend with the original result', async () => {
    const acc = await seedAccount(h.db.sql, 'http-one', { sms: 20 });
    const event = { event_id: 'sms-1', account_id: acc, credit_type: 'sms',
      sms: { to_country: 'US', text: `${'a'.repeat(69)}😀` } };
    const first = await h.call('POST', '/v1/usage', { key: h.keys.ingest, body: event });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ status: 'accepted', event_id: 'sms-1', usage_event_id: expect.any(String),
      drawn_credits: 2, overage_credits: 0, available_after_credits: 18, rate_card_version: '2026-01-01',
      thresholds_crossed: [] });
    const again = await h.call('POST', '/v1/usage', { key: h.keys.ingest, body: event });
    const { event_id: _id, ...original } = first.body;
    expect(again).toMatchObject({ status: 200, body: { status: 'duplicate', event_id: 'sms-1', original } });
    expect(await availableCredits(h.db.sql, acc, 'sms', new Date())).toBe(18);
    const [entry] = await h.db.sql`select metadata from ledger_entries where kind = 'debit' and account_id = ${acc}`;
    expect(entry!.metadata).toEqual({ usage_event_id: first.body.usage_event_id, event_id: 'sms-1',
      rate_card_version: '2026-01-01' });
  });

  it('takes a back-dated voice call as of when it happened', async () => {
    const acc = await seedAccount(h.db.sql, 'http-voice', { voice_local_min: 10 });
    const occurred_at = new Date(Date.now() - 3_600_000).toISOString();
    const r = await h.call('POST', '/v1/usage', { key: h.keys.admin, body: { event_id: 'call-1', account_id: acc,
      credit_type: 'voice_local_min', occurred_at, voice: { duration_s: 61 } } });
    expect(r).toMatchObject({ status: 201, body: { drawn_credits: 2, available_after_credits: 8 } });
    const [row] = await h.db.sql`select occurred_at from usage_events where account_id = ${acc}`;
    expect(row!.occurred_at.toISOString()).toBe(occurred_at);
  });
});

describe('POST /v1/usage/batch', () => {
  it('answers each event on its own, in the order sent', async () => {
    const acc = await seedAccount(h.db.sql, 'http-batch', { sms: 5 });
    const r = await h.call('POST', '/v1/usage/batch', { key: h.keys.ingest, body: { events: [
      { event_id: 'b1', account_id: acc, credit_type: 'sms', amount_credits: 2 },
      { event_id: 'b2', account_id: acc, credit_type: 'sms', amount_credits: 9 },
      { event_id: 'b3', account_id: acc, credit_type: 'sms' },
      { event_id: 'b1', account_id: acc, credit_type: 'sms', amount_credits: 2 },
      { event_id: 'b4', account_id: acc, credit_type: 'sms', sms: { to_country: 'US', text: 'ok' } },
    ] } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 2, duplicate: 1, refused: 2, results: [
      { status: 'accepted', event_id: 'b1', drawn_credits: 2 },
      { status: 'refused', event_id: 'b2', code: 'insufficient_credits', available_credits: 3, requested_credits: 9 },
      { status: 'refused', event_id: 'b3', code: 'invalid_event', issues: [{ path: '' }] },
      { status: 'duplicate', event_id: 'b1', original: { drawn_credits: 2 } },
      { status: 'accepted', event_id: 'b4', available_after_credits: 2 },
    ] });
  });

  it(`takes a full batch of 1000 events, well past the default body limit`, async () => {
    const acc = await seedAccount(h.db.sql, 'http-full', { sms: 10_000 });
    const events = Array.from({ length: 1000 }, (_, i) => ({ event_id: `full-${i}`, account_id: acc, credit_type: 'sms',
      list: 'newsletter', sms: { to_country: 'US', text: `Hello subscriber number ${i}, your code is ${1000 + i}.` } }));
    expect(JSON.stringify({ events }).length).toBeGreaterThan(64 * 1024);
    const r = await h.call('POST', '/v1/usage/batch', { key: h.keys.ingest, body: { events } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1000, duplicate: 0, refused: 0 });
    expect(await availableCredits(h.db.sql, acc, 'sms', new Date())).toBe(9_000);
  });
});

describe('the OpenAPI document', () => {
  it('describes the usage and hold routes from the schemas that validate them', async () => {
    const doc = (await h.call('GET', '/openapi.json')).body;
    for (const path of ['/v1/usage', '/v1/usage/batch', '/v1/accounts/{id}/holds', '/v1/holds/{id}/commit',
      '/v1/holds/{id}/release', '/v1/holds/{id}']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    expect(doc.components.schemas).toHaveProperty('UsageEvent');
    expect(doc.paths['/v1/usage'].post['x-creditflow-roles']).toEqual(['admin', 'ingest']);
  });
});
