import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/catalog';
import { useApi } from '../support/api';

const h = useApi();

describe('GET /v1/catalog', () => {
  it('answers the catalog the service runs on', async () => {
    const res = await h.call('GET', '/v1/catalog', { key: h.keys.ingest });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(loadCatalog())));
  });
});
