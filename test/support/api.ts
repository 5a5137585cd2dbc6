import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createApp, type CreditflowApp } from '../../src/api/app';
import { bootstrapAdminKey, generateApiKey, ROLES, type Role } from '../../src/api/auth';
import { loadCatalog } from '../../src/catalog/catalog';
import { loadConfig } from '../../src/config/config';
import { createSubscriptionService } from '../../src/subscriptions/service';
import { useTestDatabase, type TestDatabase } from './db';

export interface ApiResponse<T = any> {
  status: number;
  contentType: string;
  headers: Headers;
  body: T;
}

export interface CallOptions {
  /** API key to send as a Bearer token; omitted: no Authorization header. */
  key?: string;
  body?: unknown;
  /** Sent as is (for malformed JSON, odd content types). */
  rawBody?: string;
  headers?: Record<string, string>;
}

export const BOOTSTRAP_ADMIN_KEY = 'test-bootstrap-admin-key-0123456789';

/** What each test of a file can see: an HTTP server on a random port over a database of the file's own. */
export interface ApiHarness {
  url: string;
  db: TestDatabase;
  app: CreditflowApp;
  /** One live key per role (plus the bootstrap admin key in `bootstrapAdmin`). */
  keys: Record<Role, string>;
  bootstrapAdmin: string;
  /** A key that existed and was revoked. */
  revokedKey: string;
  /** Errors the app logged as unexpected (500s); checked to be empty after every test. */
  logged: unknown[];
  env?: TestWorkflowEnvironment;
  taskQueue: string;
  call<T = any>(method: string, path: string, options?: CallOptions): Promise<ApiResponse<T>>;
  /** Row counts of everything a request could write. */
  counts(): Promise<Record<string, number>>;
}

export type TemporalMode =
  /** A client that is never connected: for files whose routes never reach Temporal. */
  | 'none'
  /** A real Temporal dev server without a worker: subscription routes up to the point they would need one. */
  | 'server'
  /** A dev server and a real creditflow worker: subscription routes end to end. */
  | 'worker';

async function insertKey(h: ApiHarness, role: Role, label: string): Promise<string> {
  const k = generateApiKey();
  await h.db.sql`insert into api_keys (id, key_sha256, role, label) values (${k.id}, ${k.key_sha256}, ${role}, ${label})`;
  return k.key;
}

export function useApi(options: { temporal?: TemporalMode } = {}): ApiHarness {
  const mode = options.temporal ?? 'none';
  const h = { logged: [], keys: {} } as unknown as ApiHarness;
  let server: Server;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let idle: Connection | undefined;

  beforeAll(async () => {
    h.db = await useTestDatabase();
    const config = loadConfig({ ADMIN_API_KEY: BOOTSTRAP_ADMIN_KEY });
    const catalog = loadCatalog();
    let client: Client;
    h.taskQueue = `api-test-${Math.random().toString(36).slice(2)}`;
    if (mode === 'none') {
      idle = await Connection.lazy({ address: '127.0.0.1:1' });
      client = new Client({ connection: idle });
    } else {
      const { devServerEnv, createTestWorker } = await import('./temporal');
      h.env = await devServerEnv();
      client = h.env.client;
      if (mode === 'worker') {
        const w = await createTestWorker(h.env, h.db.sql, catalog);
        worker = w.worker;
        h.taskQueue = w.taskQueue;
        workerRun = worker.run();
      }
    }
    const subscriptions = createSubscriptionService({ client, sql: h.db.sql, taskQueue: h.taskQueue });
    h.app = createApp({ sql: h.db.sql, subscriptions, catalog, config }, {
      checkResponses: true,
      log: (message, fields) => { h.logged.push({ message, ...fields }); },
    });
    await bootstrapAdminKey(h.db.sql, config);
    h.bootstrapAdmin = BOOTSTRAP_ADMIN_KEY;
    for (const role of ROLES) h.keys[role] = await insertKey(h, role, `test-${role}`);
    h.revokedKey = await insertKey(h, 'admin', 'test-revoked');
    await h.db.sql`update api_keys set revoked_at = now() where label = 'test-revoked'`;

    await new Promise<void>((resolve) => {
      server = h.app.listen(0, '127.0.0.1', () => resolve());
    });
    h.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(() => {
    const logged = h.logged.splice(0);
    expect(logged, 'the app logged unexpected errors').toEqual([]);
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    worker?.shutdown();
    await workerRun;
    await h.env?.teardown();
    await idle?.close();
  });

  h.call = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.key !== undefined) headers.authorization = `Bearer ${o.key}`;
    let body: string | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${h.url}${path}`, { method, headers, body });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    return { status: res.status, contentType, headers: res.headers, body: contentType.includes('json') ? JSON.parse(text) : text };
  };

  h.counts = async () => {
    const [row] = await h.db.sql<Record<string, number>[]>`
      select (select count(*)::int from accounts) as accounts,
             (select count(*)::int from operations) as operations,
             (select count(*)::int from grants) as grants,
             (select count(*)::int from ledger_entries) as ledger_entries,
             (select count(*)::int from balances) as balances,
             (select count(*)::int from subscriptions) as subscriptions,
             (select count(*)::int from invoices) as invoices,
             (select count(*)::int from api_keys) as api_keys,
             (select count(*)::int from api_keys where revoked_at is not null) as revoked_api_keys`;
    return row!;
  };

  return h;
}

/** Asserts an RFC 9457 problem with its stable code, and returns it for further checks. */
export function expectProblem(res: ApiResponse, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.contentType).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    type: `urn:creditflow:problem:${code}`, status, code,
    title: expect.any(String), detail: expect.any(String), instance: expect.any(String),
  });
  return res.body as { detail: string; errors?: { in?: string; path: (string | number)[]; message: string }[] } & Record<string, unknown>;
}

/** Runs `act` and asserts it wrote nothing anywhere. */
export async function expectNoWrites(h: ApiHarness, act: () => Promise<unknown>): Promise<void> {
  const before = await h.counts();
  await act();
  expect(await h.counts()).toEqual(before);
}

export const idem = (key: string) => ({ 'Idempotency-Key': key });
