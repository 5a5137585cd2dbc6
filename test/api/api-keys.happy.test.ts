import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/api/auth';
import { useApi } from '../support/api';

const h = useApi();

describe('API keys', () => {
  it('creates a key shown once, stored only as its sha256, that works at once', async () => {
    const res = await h.call('POST', '/v1/api-keys', { key: h.keys.admin, body: { role: 'support', label: 'helpdesk' } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.stringMatching(/^key_/), role: 'support', label: 'helpdesk',
      created_at: expect.any(String), revoked_at: null, key: expect.stringMatching(/^cf_[A-Za-z0-9_-]{43}$/) });
    const [row] = await h.db.sql`select * from api_keys where id = ${res.body.id}`;
    expect(row!.key_sha256).toBe(sha256Hex(res.body.key));
    expect(JSON.stringify(row)).not.toContain(res.body.key);
    expect((await h.call('GET', '/v1/catalog', { key: res.body.key })).status).toBe(200);
  });

  it('the bootstrap admin key (from config, stored hashed) can create keys', async () => {
    const res = await h.call('POST', '/v1/api-keys', { key: h.bootstrapAdmin, body: { role: 'ingest', label: 'meter' } });
    expect(res.status).toBe(201);
    const [row] = await h.db.sql`select role, key_sha256 from api_keys where label = 'bootstrap-admin'`;
    expect(row).toEqual({ role: 'admin', key_sha256: sha256Hex(h.bootstrapAdmin) });
  });

  it('lists keys without the keys themselves', async () => {
    const res = await h.call('GET', '/v1/api-keys', { key: h.keys.admin });
    expect(res.status).toBe(200);
    expect(res.body.api_keys.map((k: { label: string }) => k.label)).toEqual(expect.arrayContaining(['test-ops', 'bootstrap-admin']));
    expect(JSON.stringify(res.body)).not.toMatch(/cf_|key_sha256/);
  });

  it('revokes a key: the next request with it is a 401; revoking again changes nothing', async () => {
    const created = await h.call('POST', '/v1/api-keys', { key: h.keys.admin, body: { role: 'ops', label: 'temp' } });
    expect((await h.call('GET', '/v1/catalog', { key: created.body.key })).status).toBe(200);
    const revoked = await h.call('DELETE', `/v1/api-keys/${created.body.id}`, { key: h.keys.admin });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: created.body.id, revoked_at: expect.any(String) });
    expect((await h.call('GET', '/v1/catalog', { key: created.body.key })).status).toBe(401);
    const again = await h.call('DELETE', `/v1/api-keys/${created.body.id}`, { key: h.keys.admin });
    expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
  });
});
