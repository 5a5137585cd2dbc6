import { OpenApiGeneratorV31, OpenAPIRegistry, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { Express } from 'express';
import swaggerUi from 'swagger-ui-express';
import { ERROR_CODES, Problem, statusOf, titleOf, type ErrorCode } from './errors';
import type { RequestSchemas, ResponseSchemas, RouteSpec } from './route';

/**
 * The OpenAPI document is generated, never written: `route()` registers each route's own request and response
 * schemas here — the very objects that validate requests — so the document cannot drift from the code.
 */
export function createRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (`cf_…`) as `Authorization: Bearer <key>`',
  });
  registry.register('Problem', Problem);
  return registry;
}

const EVERY_ROUTE: readonly ErrorCode[] = ['validation_failed', 'unauthenticated', 'forbidden', 'internal'];
const WITH_BODY: readonly ErrorCode[] = ['bad_request', 'payload_too_large', 'unsupported_media_type'];

function problemResponses(codes: readonly ErrorCode[]): Record<number, ResponseConfig> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of ERROR_CODES.filter((c) => codes.includes(c))) {
    byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  }
  return Object.fromEntries([...byStatus].map(([status, list]) => [status, {
    description: list.map((c) => `\`${c}\`: ${titleOf(c)}`).join('; '),
    content: { 'application/problem+json': { schema: Problem } },
  }]));
}

export function registerRoute<S extends RequestSchemas, R extends ResponseSchemas>(
  registry: OpenAPIRegistry, spec: RouteSpec<S, R>): void {
  const { params, query, headers, body } = spec.request ?? {};
  const problems = [...EVERY_ROUTE, ...(body ? WITH_BODY : []), ...(spec.problems ?? [])];
  const roles = ['admin', ...spec.roles];
  registry.registerPath({
    method: spec.method,
    path: spec.path,
    tags: [spec.tag],
    summary: spec.summary,
    description: [spec.description, `Roles: ${roles.join(', ')}.`].filter(Boolean).join('\n\n'),
    security: [{ apiKey: [] }],
    'x-creditflow-roles': roles,
    request: {
      params, query, headers,
      body: body ? { required: true, content: { 'application/json': { schema: body } } } : undefined,
    },
    responses: {
      ...problemResponses(problems),
      ...Object.fromEntries(Object.entries(spec.responses).map(([status, r]) => [status, {
        description: r.description,
        content: { 'application/json': { schema: r.schema } },
      }])),
    },
  });
}

export function generateDocument(registry: OpenAPIRegistry, version: string) {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'creditflow',
      version,
      description: 'Prepaid credits: accounts, subscriptions, bundles, top-ups and the ledger behind them. '
        + 'Errors are RFC 9457 problems (application/problem+json) with a stable `code`.',
    },
  });
}

/** GET /openapi.json and the Swagger UI at /docs; both public (the document holds no data). */
export function serveDocs(app: Express, document: object): void {
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(document, { customSiteTitle: 'creditflow API' }));
}
