import { describe, expect, it } from 'vitest';
import { REFUSAL_CODES } from '../../src/usage/schema';
import { expectProblem, useApi } from '../support/api';
import { give } from '../accounts/harness';

const h = useApi();
/** Live once src/usage/schema.ts knows the code (the usage path's owner adds it with its problem mapping). */
const known = (REFUSAL_CODES as readonly string[]).includes('list_limit_exceeded');

describe('usage over HTTP refuses a list over its limit', () => {
  it.skipIf(!known)('POST /v1/usage → 422 list_limit_exceeded; a batch answers the refusal in place', async () => {
    await h.db.sql`insert into accounts (id, name, time_zone, country) values ('uh', 'U', 'UTC', 'US')`;
    await give(h.db.sql, 'uh', 'sms', 100, { from: new Date(Date.now() - 86_400_000) });
    await h.call('PUT', '/v1/accounts/uh/lists/promo/limits/sms', { key: h.keys.ops, body: { period: 'total', limit_credits: 5 } });
    const ev = (id: string, credits: number) => ({ event_id: id, account_id: 'uh', credit_type: 'sms', amount_credits: credits,
      list: 'promo' });
    expect((await h.call('POST', '/v1/usage', { key: h.keys.ingest, body: ev('a', 4) })).status).toBe(201);
    const p = expectProblem(await h.call('POST', '/v1/usage', { key: h.keys.ingest, body: ev('b', 2) }), 422,
      'list_limit_exceeded');
    expect(p).toMatchObject({ refusal: 'list_limit_exceeded', event_id: 'b', list: 'promo', period: 'total',
      limit_credits: 5, spent_credits: 4, remaining_credits: 1, requested_credits: 2 });
    const batch = await h.call('POST', '/v1/usage/batch', { key: h.keys.ingest, body: { events: [ev('c', 2), ev('d', 1)] } });
    expect(batch.status, JSON.stringify(batch.body)).toBe(200);
    expect(batch.body.results.map((r: { status: string; code?: string }) => r.code ?? r.status))
      .toEqual(['list_limit_exceeded', 'accepted']);
  });
});
