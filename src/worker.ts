import { NativeConnection, Worker, bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { join } from 'node:path';
import { createActivities } from './activities';
import { createWebhookActivities, type WebhookServiceDeps } from './webhooks';
import type { Catalog } from './catalog/schema';
import type { Sql } from './db/client';
import { createPostgresInvoicePayments } from './payments/postgres-invoices';
import type { PaymentPort } from './payments/port';

// An explicit file (not require.resolve): vitest's module runner does not resolve .ts through require.
export const WORKFLOWS_PATH = join(__dirname, 'workflows', 'index.ts');

export interface CreditflowWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  sql: Sql;
  catalog: () => Catalog;
  payments?: PaymentPort;
  /** A prebuilt workflow bundle (tests build it once per run); otherwise the worker bundles WORKFLOWS_PATH. */
  workflowBundle?: { code: string } | { codePath: string };
  /** Webhook delivery settings (tests point fetch/timeouts at a local receiver). */
  webhooks?: Omit<WebhookServiceDeps, 'sql'>;
  extra?: Partial<WorkerOptions>;
}

/** A worker running subscription workflows, with activities made from their dependencies. */
export async function createCreditflowWorker(o: CreditflowWorkerOptions): Promise<Worker> {
  const activities = {
    ...createActivities({ sql: o.sql, payments: o.payments ?? createPostgresInvoicePayments(o.sql), catalog: o.catalog }),
    ...createWebhookActivities({ sql: o.sql, ...o.webhooks }),
  };
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace ?? 'default',
    taskQueue: o.taskQueue,
    activities,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    ...o.extra,
  });
}

export async function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} } as never });
}

/** `tsx src/worker.ts`: a standalone worker against TEMPORAL_ADDRESS and DATABASE_URL (docker-compose's worker). */
async function main(): Promise<void> {
  const { loadConfig } = await import('./config/config');
  const { connect } = await import('./db/client');
  const { migrate } = await import('./db/migrate');
  const { loadCatalog } = await import('./catalog/catalog');
  const config = loadConfig();
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) {
    throw new Error('src/worker.ts alone needs DATABASE_URL and TEMPORAL_ADDRESS; `npm start` runs everything embedded');
  }
  const sql = connect(config.DATABASE_URL);
  await migrate(sql, console.log);
  const catalog = loadCatalog(config.CATALOG_FILE);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createCreditflowWorker({ connection, namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE, sql, catalog: () => catalog });
  console.log(`worker polling ${config.TEMPORAL_TASK_QUEUE} on ${config.TEMPORAL_ADDRESS}`);
  await worker.run();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
