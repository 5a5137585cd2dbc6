import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { ERROR_CODES } from '../../src/api/errors';
import { loadCatalog } from '../../src/catalog/catalog';
import { loadConfig } from '../../src/config/config';
import { connect } from '../../src/db/client';
import { REFUSALS } from '../../src/workflows/messages';
import { expectNoWrites, expectProblem, useApi } from '../support/api';

const h = useApi();

describe('problem+json for what the client got wrong', () => {
  it('malformed JSON → 400 bad_request, nothing written', async () => {
    await expectNoWrites(h, async () => {
      const res = await h.call('POST', '/v1/accounts', { key: h.keys.admin, rawBody: '{"id": "x",',
        headers: { 'content-type': 'application/json' } });
      expect(expectProblem(res, 400, 'bad_request').detail).toMatch(/JSON/);
    });
  });

  it('a body over the limit → 413 payload_too_large, nothing written', async () => {
    await expectNoWrites(h, async () => {
      const res = await h.call('POST', '/v1/accounts', { key: h.keys.admin,
        body: { id: 'big', name: 'x'.repeat(70_000), time_zone: 'UTC', country: 'US' } });
      expectProblem(res, 413, 'payload_too_large');
    });
  });

  it('a body that is not JSON → 415 unsupported_media_type', async () => {
    await expectNoWrites(h, async () => {
      const res = await h.call('POST', '/v1/accounts', { key: h.keys.admin, rawBody: 'id=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expectProblem(res, 415, 'unsupported_media_type');
    });
  });

  it('every schema issue is listed with where it was', async () => {
    const res = await h.call('POST', '/v1/accounts/%20/top-ups', { key: h.keys.ops,
      body: { credit_type: 'sms', amount_credits: -1 } });
    const p = expectProblem(res, 400, 'validation_failed');
    expect(p.errors).toEqual(expect.arrayContaining([
      expect.objectContaining({ in: 'params', path: ['id'] }),
      expect.objectContaining({ in: 'headers', path: ['Idempotency-Key'] }),
      expect.objectContaining({ in: 'body', path: ['amount_credits'] }),
      expect.objectContaining({ in: 'body', path: ['reason'] }),
    ]));
    expect(p.detail).toMatch(/and \d+ more/);
  });

  it('an unknown route → 404 not_found problem', async () => {
    const res = await h.call('GET', '/v1/nothing-here', { key: h.keys.admin });
    expect(expectProblem(res, 404, 'not_found').instance).toBe('/v1/nothing-here');
  });

  it('a 401 says how to authenticate', async () => {
    const res = await h.call('GET', '/v1/catalog');
    expectProblem(res, 401, 'unauthenticated');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('a valid key with a malformed header is still a 401', async () => {
    const res = await h.call('GET', '/v1/catalog', { headers: { authorization: `Token ${h.keys.admin}` } });
    expectProblem(res, 401, 'unauthenticated');
  });
});

describe('the unexpected', () => {
  it('becomes a logged 500 internal problem that reveals nothing', async () => {
    const broken = connect(h.db.url, { max: 1 });
    await broken.end();
    const logged: unknown[] = [];
    const app = createApp({ sql: broken, subscriptions: null as never, catalog: loadCatalog(), config: loadConfig({}) },
      { log: (message, fields) => logged.push({ message, ...fields }) });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/catalog`,
        { headers: { authorization: `Bearer ${h.keys.admin}` } });
      const body = await res.json();
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(body).toMatchObject({ code: 'internal', status: 500, type: 'urn:creditflow:problem:internal' });
      expect(JSON.stringify(body)).not.toMatch(/CONNECTION|postgres|at /i);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ method: 'GET', path: '/v1/catalog', error: expect.stringMatching(/CONNECTION_ENDED|ended/) });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('the error codes', () => {
  it('cover every refusal the subscription workflow can raise', () => {
    for (const r of REFUSALS) expect(ERROR_CODES).toContain(r);
  });
});

describe('the OpenAPI document', () => {
  it('is generated from the routes: every route, its roles, its idempotency header', async () => {
    const res = await h.call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    for (const r of h.app.locals.routes) {
      const op = doc.paths[r.path]?.[r.method];
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      expect(op['x-creditflow-roles']).toEqual(['admin', ...r.roles]);
      expect(op.responses['401']).toBeDefined();
    }
    const stop = doc.paths['/v1/subscriptions/{id}/stop-renewal'].post;
    expect(stop.parameters).toEqual(expect.arrayContaining([
      expect.objectContaining({ in: 'header', name: 'Idempotency-Key', required: true }),
    ]));
    expect(doc.components.schemas.Problem.properties.code.enum).toEqual(ERROR_CODES);
  });

  it('is browsable at /docs', async () => {
    const res = await h.call('GET', '/docs/');
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/swagger/i);
  });

  it('a write route documents its problems', async () => {
    const doc = (await h.call('GET', '/openapi.json')).body;
    const topUp = doc.paths['/v1/accounts/{id}/top-ups'].post;
    expect(Object.keys(topUp.responses).sort()).toEqual(['200', '201', '400', '401', '403', '404', '409', '413', '415', '422', '500']);
  });
});
