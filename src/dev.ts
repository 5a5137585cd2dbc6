import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startApiServer } from './api/server';
import { loadCatalog } from './catalog/catalog';
import { ConfigError, loadConfig } from './config/config';
import { connect } from './db/client';
import { migrate } from './db/migrate';
import { startEmbeddedPostgres } from './infra/embedded-postgres';
import { startTemporalDevServer } from './infra/temporal-dev-server';
import { createSubscriptionService } from './subscriptions/service';
import { createCreditflowWorker } from './worker';

/**
 * `npm start`: the whole engine on one machine. Embedded PostgreSQL and the Temporal dev server keep their data
 * under DATA_DIR, so subscriptions survive a restart; DATABASE_URL / TEMPORAL_ADDRESS point at external ones.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const dataDir = resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const say = (line: string) => console.log(`[creditflow] ${line}`);

  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), port: config.EMBEDDED_PG_PORT, persistent: true });
    stops.unshift(pg.stop);
    const admin = connect(pg.url('postgres'), { max: 1 });
    const [exists] = await admin`select 1 from pg_database where datname = 'creditflow'`;
    if (!exists) await admin.unsafe('create database creditflow');
    await admin.end();
    databaseUrl = pg.url('creditflow');
    say(`embedded PostgreSQL on port ${config.EMBEDDED_PG_PORT} (data in ${join(dataDir, 'pg')})`);
  }
  const sql = connect(databaseUrl, { max: 20 });
  stops.unshift(() => sql.end());
  await migrate(sql, (l) => say(l));

  let temporalAddress = config.TEMPORAL_ADDRESS;
  let uiUrl: string | null = null;
  if (!temporalAddress) {
    const t = await startTemporalDevServer({ dataDir: join(dataDir, 'temporal'), port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_UI_PORT });
    stops.unshift(t.stop);
    temporalAddress = t.address;
    uiUrl = t.uiUrl;
  }

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const catalog = loadCatalog(config.CATALOG_FILE);
  const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
  const worker = await createCreditflowWorker({ connection: nativeConnection, namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE, sql, catalog: () => catalog });
  const running = worker.run();
  stops.unshift(async () => { worker.shutdown(); await running; await nativeConnection.close(); });

  const adminKey = config.ADMIN_API_KEY ?? persistentAdminKey(dataDir);
  const clientConnection = await Connection.connect({ address: temporalAddress });
  const temporalClient = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE });
  const api = await startApiServer({ sql, client: temporalClient, config: { ...config, ADMIN_API_KEY: adminKey }, catalog });
  stops.unshift(api.close);

  await seedDemo(sql, createSubscriptionService({ client: temporalClient, sql, taskQueue: config.TEMPORAL_TASK_QUEUE }), say);

  say(`API          ${api.url}   (docs: ${api.url}/docs, OpenAPI: ${api.url}/openapi.json)`);
  say(`Temporal     ${temporalAddress}${uiUrl ? `   (UI: ${uiUrl})` : ''}`);
  say(`admin key    ${adminKey}   (saved in ${join(dataDir, 'admin-api-key')} unless ADMIN_API_KEY is set)`);
  say('try:         CREDITFLOW_API_KEY=<admin key> npm run cli -- subscriptions show demo-acme-sms');

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    for (const stop of stops) await stop().catch((err) => console.error(err));
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

/** A default-run admin key, generated once and kept beside the data so it survives restarts. */
function persistentAdminKey(dataDir: string): string {
  const file = join(dataDir, 'admin-api-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `cf_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** A small demo: one account on a rollover SMS plan with a pay-as-you-go bundle, created once. */
async function seedDemo(sql: ReturnType<typeof connect>, subscriptions: ReturnType<typeof createSubscriptionService>,
  say: (line: string) => void): Promise<void> {
  const inserted = await sql`insert into accounts (id, name, time_zone, country)
    values ('demo-acme', 'Acme Florists (demo)', 'America/New_York', 'US') on conflict do nothing returning id`;
  const started = await subscriptions.start({ subscriptionId: 'demo-acme-sms', accountId: 'demo-acme',
    planId: 'sms-1000-rollover', startedBy: 'demo-seed' });
  if (inserted.length > 0 && started.ok) {
    await subscriptions.buyBundle('demo-acme-sms', { request_id: 'demo-seed-bundle', by: 'demo-seed', bundle_id: 'sms-payg-500' });
    say('seeded demo account demo-acme with subscription demo-acme-sms (sms-1000-rollover) and a 500 SMS bundle');
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
