import { generateApiKey, Role, forgetKeys } from '../auth';
import { ApiError } from '../errors';
import type { RouteModule } from '../route';
import { iso, isoOrNull, Timestamp } from '../schemas';
import { z } from '../zod';

const ApiKeyInput = z.strictObject({
  role: Role,
  label: z.string().trim().min(1).max(100).describe('who or what holds the key; recorded as `by` on its actions'),
}).openapi('ApiKeyInput');

const ApiKey = z.object({
  id: z.string(),
  role: Role,
  label: z.string(),
  created_at: Timestamp,
  revoked_at: Timestamp.nullable(),
}).openapi('ApiKey');

const CreatedApiKey = ApiKey.extend({
  key: z.string().describe('the key itself: shown this once, stored only as its sha256'),
}).openapi('CreatedApiKey');

const KeyIdParams = z.object({ id: z.string().min(1).max(64) });

interface ApiKeyRow { id: string; role: Role; label: string; created_at: Date; revoked_at: Date | null }
const keyView = (r: ApiKeyRow) => ({
  id: r.id, role: r.role, label: r.label, created_at: iso(r.created_at), revoked_at: isoOrNull(r.revoked_at),
});

export const apiKeyRoutes: RouteModule = ({ route, deps: { sql } }) => {
  route({
    method: 'post',
    path: '/v1/api-keys',
    tag: 'api keys',
    summary: 'Create an API key',
    roles: [],
    request: { body: ApiKeyInput },
    responses: { 201: { description: 'the key, shown once', schema: CreatedApiKey } },
    async handler({ body }) {
      const k = generateApiKey();
      const [row] = await sql<ApiKeyRow[]>`
        insert into api_keys (id, key_sha256, role, label) values (${k.id}, ${k.key_sha256}, ${body.role}, ${body.label})
        returning id, role, label, created_at, revoked_at`;
      return { status: 201, body: { ...keyView(row!), key: k.key } };
    },
  });

  route({
    method: 'get',
    path: '/v1/api-keys',
    tag: 'api keys',
    summary: 'List API keys (never the keys themselves)',
    roles: [],
    responses: { 200: { description: 'every key, newest first', schema: z.object({ api_keys: z.array(ApiKey) }) } },
    async handler() {
      const rows = await sql<ApiKeyRow[]>`
        select id, role, label, created_at, revoked_at from api_keys order by created_at desc, id`;
      return { status: 200, body: { api_keys: rows.map(keyView) } };
    },
  });

  route({
    method: 'delete',
    path: '/v1/api-keys/{id}',
    tag: 'api keys',
    summary: 'Revoke an API key',
    description: 'Takes effect on the next request. Revoking a revoked key answers it unchanged.',
    roles: [],
    request: { params: KeyIdParams },
    responses: { 200: { description: 'the revoked key', schema: ApiKey } },
    problems: ['not_found'],
    async handler({ params }) {
      const [row] = await sql<ApiKeyRow[]>`
        update api_keys set revoked_at = coalesce(revoked_at, now()) where id = ${params.id}
        returning id, role, label, created_at, revoked_at`;
      if (!row) throw new ApiError('not_found', `no API key ${params.id}`);
      forgetKeys(sql);
      return { status: 200, body: keyView(row) };
    },
  });
};
