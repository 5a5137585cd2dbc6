import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startApiServer } from '../../src/api/server';
import { loadCatalog } from '../../src/catalog/catalog';
import type { Catalog } from '../../src/catalog/schema';
import { loadConfig, type Config } from '../../src/config/config';
import { connect, type Sql } from '../../src/db/client';
import { migrate } from '../../src/db/migrate';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

/**
 * The real infrastructure each bench script starts for itself: PostgreSQL (embedded on a free port in a throwaway
 * directory, or the server DATABASE_URL names, where the bench gets a fresh database of its own), the Temporal dev
 * server where a bench needs workflows, and the API over HTTP with a real admin key. Everything binds 127.0.0.1.
 */

export const REPO_ROOT = resolve(__dirname, '..', '..');

/** Cleanups run in reverse order of registration, each awaited, errors reported but not fatal. */
export class Stack {
  private readonly stops: { name: string; stop: () => Promise<unknown> }[] = [];
  add(name: string, stop: () => Promise<unknown>): void {
    this.stops.unshift({ name, stop });
  }
  async close(): Promise<void> {
    for (const { name, stop } of this.stops.splice(0)) {
      await stop().catch((err) => console.error(`[bench] stopping ${name}:`, err));
    }
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolvePort(port));
    });
    srv.on('error', reject);
  });
}

export interface BenchDatabase {
  /** postgres:// URL of the bench's own database. */
  url: string;
  /** The application's pool (as src/dev.ts opens it: max 20 unless told). */
  sql: Sql;
  /** Where it came from, for the report. */
  source: 'embedded' | 'DATABASE_URL';
  /** The embedded server's data directory (its postmaster.pid finds the processes to measure); null otherwise. */
  dataDir: string | null;
}

/**
 * PostgreSQL for one bench: embedded unless DATABASE_URL is set; either way a fresh database, migrated, dropped
 * (or thrown away with its data directory) on close.
 */
export async function startDatabase(stack: Stack, o: { pool_max?: number } = {}): Promise<BenchDatabase> {
  let serverUrl: string;
  let source: BenchDatabase['source'];
  let dataDir: string | null = null;
  if (process.env.DATABASE_URL) {
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = '/';
    serverUrl = u.toString().replace(/\/$/, '');
    source = 'DATABASE_URL';
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'creditflow-bench-pg-'));
    chmodSync(dir, 0o755); // as root, PostgreSQL runs as an unprivileged user that must reach its data dir
    const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await freePort(), persistent: false });
    stack.add('embedded postgres', async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    serverUrl = pg.url('').replace(/\/$/, '');
    source = 'embedded';
    dataDir = join(dir, 'data');
  }
  const name = `cf_bench_${randomBytes(5).toString('hex')}`;
  const admin = connect(`${serverUrl}/postgres`, { max: 1 });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  stack.add(`database ${name}`, async () => {
    const drop = connect(`${serverUrl}/postgres`, { max: 1 });
    await drop.unsafe(`drop database if exists ${name} with (force)`);
    await drop.end();
  });
  const url = `${serverUrl}/${name}`;
  const sql = connect(url, { max: o.pool_max ?? 20 });
  stack.add('application pool', () => sql.end({ timeout: 5 }));
  await migrate(sql);
  return { url, sql, source, dataDir };
}

/** Flushes what seeding dirtied, so a checkpoint does not land inside the measured window. */
export async function settle(sql: Sql): Promise<void> {
  await sql`vacuum analyze`;
  await sql`checkpoint`;
}

export interface BenchTemporal {
  client: Client;
  env: TestWorkflowEnvironment;
  /** The server's SQLite file: its command line names it, which finds its process for CPU figures. */
  dbFile: string;
}

let runtimeInstalled = false;

/** The Temporal CLI dev server (the binary scripts/setup.sh installs) on free ports, SQLite in a throwaway dir. */
export async function startTemporal(stack: Stack): Promise<BenchTemporal> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const dir = mkdtempSync(join(tmpdir(), 'creditflow-bench-temporal-'));
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: join(REPO_ROOT, '.tools', 'bin', 'temporal') },
      searchAttributes: SEARCH_ATTRIBUTES,
      ip: '127.0.0.1',
      dbFilename: join(dir, 'temporal.sqlite'),
      ui: false,
    },
  });
  stack.add('temporal dev server', async () => {
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  });
  return { client: env.client, env, dbFile: join(dir, 'temporal.sqlite') };
}

/** A Temporal client that never connects: the usage routes do not reach Temporal. */
export async function idleTemporalClient(stack: Stack): Promise<Client> {
  const connection = await Connection.lazy({ address: '127.0.0.1:1' });
  stack.add('idle temporal connection', () => connection.close());
  return new Client({ connection });
}

export const newAdminKey = () => `cf_bench_admin_${randomBytes(16).toString('hex')}`;

export function benchConfig(o: { adminKey: string; port: number }): Config {
  return loadConfig({ ADMIN_API_KEY: o.adminKey, API_PORT: String(o.port) });
}

export interface BenchApi {
  url: string;
  adminKey: string;
  /** A key with role `ingest`, created through POST /v1/api-keys with the admin key. */
  ingestKey: string;
  catalog: Catalog;
  config: Config;
}

/** The API exactly as the shipped process starts it (src/api/server.ts startApiServer), on a free port. */
export async function startShippedApi(stack: Stack, o: { sql: Sql; client: Client }): Promise<BenchApi> {
  const adminKey = newAdminKey();
  const config = benchConfig({ adminKey, port: await freePort() });
  const catalog = loadCatalog();
  const api = await startApiServer({ sql: o.sql, client: o.client, config, catalog });
  stack.add('api server', () => closeWithin(api.close(), 3_000));
  const ingestKey = await createKey(api.url, adminKey, 'ingest', 'bench-ingest');
  return { url: api.url, adminKey, ingestKey, catalog, config };
}

/** server.close() waits for keep-alive sockets to idle out; never let that hold a bench up. */
export async function closeWithin(p: Promise<unknown>, ms: number): Promise<void> {
  await Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);
}

export async function createKey(baseUrl: string, adminKey: string, role: string, label: string): Promise<string> {
  const r = await callJson(baseUrl, 'POST', '/v1/api-keys', adminKey, { role, label });
  if (r.status !== 201) throw new Error(`creating a ${role} key answered ${r.status}: ${JSON.stringify(r.body)}`);
  return (r.body as { key: string }).key;
}

const setupAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/** One JSON request over a keep-alive connection (setup calls and probes; the load itself runs in load-client). */
export function callJson(baseUrl: string, method: string, path: string, key: string | null, body?: unknown,
  headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, baseUrl);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolveCall, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname + url.search, method, agent: setupAgent,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        ...headers,
      },
      timeout: 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
        resolveCall({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

export function destroySetupAgent(): void {
  setupAgent.destroy();
}

/** Accounts `${prefix}0000`… with one adjustment grant each, written straight into the ledger (one statement). */
export async function seedAccounts(sql: Sql, o: { prefix: string; count: number; credits: number; creditType?: string }):
  Promise<string[]> {
  const ids = Array.from({ length: o.count }, (_, i) => `${o.prefix}${String(i).padStart(4, '0')}`);
  await sql`insert into accounts (id, name, time_zone, country)
            select id, id, 'UTC', 'US' from unnest(${ids}::text[]) id`;
  if (o.credits > 0) {
    await sql`select count(cf_grant('bench-seed:' || id, id, ${o.creditType ?? 'sms'}, ${o.credits}::bigint, 'adjustment',
                100, now() - interval '1 hour', null, null, null, 'bench', null, '{}'))
              from unnest(${ids}::text[]) id`;
  }
  return ids;
}

export function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true });
}
