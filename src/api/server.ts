import { Client, Connection } from '@temporalio/client';
import type { Server } from 'node:http';
import { loadCatalog } from '../catalog/catalog';
import type { Catalog } from '../catalog/schema';
import type { Config } from '../config/config';
import { connect, type Sql } from '../db/client';
import { migrate } from '../db/migrate';
import { createSubscriptionService } from '../subscriptions/service';
import { createApp } from './app';
import { bootstrapAdminKey } from './auth';
import { createHoldService } from '../holds';
import { createTemporalSignaler, createUsageService } from '../usage';

const SWEEP_INTERVAL_MS = 5_000;

export interface ApiServer {
  url: string;
  close: () => Promise<void>;
}

/** The API process: Express over the ledger and a Temporal client (it runs no workflows; the worker does). */
export async function startApiServer(o: { sql: Sql; client: Client; config: Config; catalog: Catalog; host?: string }):
  Promise<ApiServer> {
  await bootstrapAdminKey(o.sql, o.config);
  const subscriptions = createSubscriptionService({ client: o.client, sql: o.sql, taskQueue: o.config.TEMPORAL_TASK_QUEUE });
  const now = () => new Date();
  // Crossings are signalled right after the debit's commit; the sweeper retries any signal that failed.
  const usage = createUsageService({ sql: o.sql, signaler: createTemporalSignaler(o.client), now,
    graceWindowS: o.config.USAGE_GRACE_WINDOW_S,
    onDispatchError: (err, id) => console.warn(`threshold crossing ${id} not signalled yet: ${String(err)}`) });
  const holds = createHoldService({ sql: o.sql, now, creditTypes: o.catalog.credit_types.map((t) => t.id),
    dispatcher: usage.dispatcher });
  const sweeper = usage.dispatcher.startSweeper(SWEEP_INTERVAL_MS);
  const app = createApp({ sql: o.sql, subscriptions, catalog: o.catalog, config: o.config, usage, holds });
  const host = o.host ?? '127.0.0.1';
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(o.config.API_PORT, host, () => resolve(s));
  });
  return {
    url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${o.config.API_PORT}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sweeper.stop();
      await usage.dispatcher.drain();
    },
  };
}

/** `tsx src/api/server.ts`: the API alone against DATABASE_URL and TEMPORAL_ADDRESS (docker-compose's api). */
async function main(): Promise<void> {
  const { loadConfig } = await import('../config/config');
  const config = loadConfig();
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) {
    throw new Error('src/api/server.ts alone needs DATABASE_URL and TEMPORAL_ADDRESS; `npm start` runs everything embedded');
  }
  const sql = connect(config.DATABASE_URL);
  await migrate(sql, console.log);
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const api = await startApiServer({ sql, client, config, catalog: loadCatalog(config.CATALOG_FILE), host: '0.0.0.0' });
  console.log(`creditflow API on ${api.url} (docs ${api.url}/docs)`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
