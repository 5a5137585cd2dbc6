import express, { type Request, type RequestHandler, type Router } from 'express';
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Catalog } from '../catalog/schema';
import type { Config } from '../config/config';
import type { Sql } from '../db/client';
import type { SubscriptionService } from '../subscriptions/service';
import { authenticate, authorize, type Caller, type Role } from './auth';
import { ApiError, issuesOf, validationFailed, type ErrorCode, type ProblemIssue } from './errors';
import { registerRoute } from './openapi';
import type { z } from './zod';

/** What route handlers may use. Route modules that need more (a Temporal client, a webhook signer) add it here. */
export interface ApiDeps {
  sql: Sql;
  subscriptions: SubscriptionService;
  catalog: Catalog;
  config: Config;
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RequestSchemas {
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Keys are header names as documented (`Idempotency-Key`); they are looked up case-insensitively. */
  headers?: z.ZodObject;
  body?: z.ZodType;
}

export type ResponseSchemas = Record<number, { description: string; schema: z.ZodType }>;

type Parsed<S extends RequestSchemas, K extends keyof RequestSchemas> =
  S[K] extends z.ZodType ? z.output<S[K]> : undefined;

export interface RouteInput<S extends RequestSchemas> {
  params: Parsed<S, 'params'>;
  query: Parsed<S, 'query'>;
  headers: Parsed<S, 'headers'>;
  body: Parsed<S, 'body'>;
  caller: Caller;
}

/** A handler answers with one of its declared responses; problems are thrown as ApiError. */
export type RouteReply<R extends ResponseSchemas> = {
  [K in keyof R & number]: { status: K; body: z.input<R[K]['schema']> };
}[keyof R & number];

export interface RouteSpec<S extends RequestSchemas, R extends ResponseSchemas> {
  method: Method;
  /** OpenAPI form, `/v1/accounts/{id}`; mounted on express as `/v1/accounts/:id`. */
  path: `/${string}`;
  summary: string;
  description?: string;
  tag: string;
  /** Roles allowed besides admin (admin may call every route). */
  roles: readonly Role[];
  request?: S;
  responses: R;
  /** Problem codes this route answers beyond those every route can (validation, auth, internal). */
  problems?: readonly ErrorCode[];
  handler: (input: RouteInput<S>) => Promise<RouteReply<NoInfer<R>>>;
}

export interface RouteSummary {
  method: Method;
  path: string;
  roles: readonly Role[];
}

export interface Api {
  deps: ApiDeps;
  /** Declares a route: registers it in the OpenAPI document and mounts it, validated by the same schemas. */
  route<S extends RequestSchemas, R extends ResponseSchemas>(spec: RouteSpec<S, R>): void;
  /** Escape hatches for what `route` cannot express (raw bodies for signature checks, say). */
  router: Router;
  registry: OpenAPIRegistry;
}

/** A route module: one file under routes/, registered by one line in app.ts. */
export type RouteModule = (api: Api) => void;

export interface ApiOptions {
  /** Checks every response body against its declared schema (tests turn this on; a mismatch is a 500). */
  checkResponses?: boolean;
  bodyLimit?: string;
}

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';

function headerValues(req: Request, schema: z.ZodObject): Record<string, string | undefined> {
  return Object.fromEntries(Object.keys(schema.shape).map((name) => [name, req.get(name)]));
}

const MAX_NUL_ISSUES = 20;

/**
 * Where strings in the request hold U+0000, as validation issues (at most 20). PostgreSQL text and jsonb cannot
 * store it (22P05): let through, it is a 500, and in a usage group commit it fails every event written with it.
 * Every string counts, object keys included, at any depth, whatever the route's schemas say. Walks without
 * recursion (a 4 MB body can nest a million deep) and builds a path only for a string that has one.
 */
export function nulIssues(parts: Partial<Record<'params' | 'query' | 'body', unknown>>): ProblemIssue[] {
  type Node = { value: unknown; key: string | number; parent: Node | null };
  const issues: ProblemIssue[] = [];
  const pathOf = (node: Node): (string | number)[] => {
    const path: (string | number)[] = [];
    for (let n: Node | null = node; n; n = n.parent) path.push(n.key);
    return path.reverse();
  };
  const report = (node: Node, message: string) => {
    const [where, ...path] = pathOf(node);
    issues.push({ in: where as 'params' | 'query' | 'body', path, message, code: 'invalid_format' });
  };
  const stack: Node[] = Object.entries(parts).reverse().map(([key, value]) => ({ value, key, parent: null }));
  while (stack.length > 0 && issues.length < MAX_NUL_ISSUES) {
    const node = stack.pop()!;
    const { value } = node;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) report(node, 'must not contain U+0000 (NUL)');
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], key: i, parent: node });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i]!;
        const child = { value: item, key, parent: node };
        if (key.includes('\u0000')) report(child, 'a key must not contain U+0000 (NUL)');
        stack.push(child);
      }
    }
  }
  return issues.slice(0, MAX_NUL_ISSUES);
}

/** Validates every part of the request and reports all issues at once, each with where it was. */
function parseRequest<S extends RequestSchemas>(req: Request, schemas: S): Omit<RouteInput<S>, 'caller'> {
  // Before any schema: a NUL is refused whether or not the route reads that part of the request.
  const issues: ProblemIssue[] = nulIssues({ params: req.params, query: req.query, body: req.body });
  const parse = (where: ProblemIssue['in'] & keyof RequestSchemas, value: unknown) => {
    const schema = schemas[where];
    if (!schema) return undefined;
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    issues.push(...issuesOf(r.error, where));
    return undefined;
  };
  const input = {
    params: parse('params', req.params),
    query: parse('query', req.query),
    headers: schemas.headers ? parse('headers', headerValues(req, schemas.headers)) : undefined,
    // An absent body is read as {} so a missing field is reported by name rather than as "expected object".
    body: parse('body', req.body ?? {}),
  };
  if (issues.length > 0) throw validationFailed(issues);
  return input as Omit<RouteInput<S>, 'caller'>;
}

export function createApi(opts: { deps: ApiDeps; router: Router; registry: OpenAPIRegistry; options: ApiOptions;
  routes: RouteSummary[] }): Api {
  const { deps, router, registry, options, routes } = opts;
  const json = express.json({ limit: options.bodyLimit ?? '64kb', strict: true });

  return {
    deps,
    router,
    registry,
    route(spec) {
      routes.push({ method: spec.method, path: spec.path, roles: spec.roles });
      registerRoute(registry, spec);

      // Order matters: who is calling and may they, before the body is even read; then the whole request is
      // validated; only then does the handler run, so a rejected request never reaches anything that writes.
      const authn: RequestHandler = async (req, res, next) => {
        const caller = await authenticate(deps.sql, req.get('authorization'));
        authorize(caller, spec.roles);
        res.locals.caller = caller;
        if (spec.request?.body && hasBody(req) && !req.is('application/json')) {
          throw new ApiError('unsupported_media_type', 'send the body as application/json');
        }
        next();
      };
      const handle: RequestHandler = async (req, res) => {
        const input = { ...parseRequest(req, spec.request ?? {}), caller: res.locals.caller as Caller };
        const reply = await spec.handler(input as Parameters<typeof spec.handler>[0]);
        const declared = spec.responses[reply.status];
        if (!declared) throw new Error(`${spec.method} ${spec.path} answered undeclared status ${reply.status}`);
        const body = JSON.stringify(reply.body);
        if (options.checkResponses) {
          const checked = declared.schema.safeParse(JSON.parse(body));
          if (!checked.success) {
            throw new Error(`${spec.method} ${spec.path} ${reply.status} does not match its schema: `
              + checked.error.message);
          }
        }
        res.status(reply.status).type('application/json').send(body);
      };
      router[spec.method](spec.path.replace(/\{(\w+)\}/g, ':$1'), authn, json, handle);
    },
  };
}
