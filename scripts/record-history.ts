/**
 * Records a subscription workflow history for the replay tests: `npx tsx scripts/record-history.ts <name>`.
 * Runs a real scenario (start, bundle, stop/resume, renewals, cancel) on the time-skipping server and embedded
 * PostgreSQL, then writes test/workflows/histories/<name>.json. Commit the file: replaying it against later code
 * proves the change is deterministic for workflows already running (or that it needs a patched() guard).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog } from '../src/catalog/catalog';
import { connect } from '../src/db/client';
import { migrate } from '../src/db/migrate';
import { startEmbeddedPostgres } from '../src/infra/embedded-postgres';
import { createSubscriptionService } from '../src/subscriptions/service';
import { createCreditflowWorker } from '../src/worker';
import { workflowIdFor } from '../src/workflows/messages';
import { SEARCH_ATTRIBUTES } from '../src/workflows/search-attributes';

async function main(name: string): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dir = mkdtempSync(join(tmpdir(), 'creditflow-record-'));
  chmodSync(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: 54_000 + Math.floor(Math.random() * 900), persistent: false });
  const sql = connect(pg.url('postgres'));
  await migrate(sql);
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: '.tools/bin/temporal-test-server' } },
  });
  await env.connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes:
    Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])) });
  const catalog = loadCatalog();
  const worker = await createCreditflowWorker({ connection: env.nativeConnection, taskQueue: 'record', sql, catalog: () => catalog });
  const subs = createSubscriptionService({ client: env.client, sql, taskQueue: 'record' });
  await worker.runUntil(async () => {
    await sql`insert into accounts (id, name, time_zone, country) values ('rec', 'rec', 'Europe/Rome', 'IT')`;
    const started = await subs.start({ subscriptionId: 'rec-sub', accountId: 'rec', planId: 'sms-1000-rollover', startedBy: 'recorder' });
    if (!started.ok || started.value.outcome !== 'active') throw new Error('start failed');
    await subs.buyBundle('rec-sub', { request_id: 'b1', by: 'recorder', bundle_id: 'sms-pack-2y-1000' });
    await subs.setAlerts('rec-sub', { request_id: 'a1', by: 'recorder', alerts: { thresholds: [{ credit_type: 'sms',
      percent_of_allotment: 50 }], expiring_soon_notice_ms: 7 * 86_400_000 } }).catch(() => undefined); // absent before alerts
    await subs.stopRenewal('rec-sub', { request_id: 's1', by: 'recorder' });
    await subs.resumeRenewal('rec-sub', { request_id: 'r1', by: 'recorder' });
    await subs.changePlan('rec-sub', { request_id: 'c1', by: 'recorder', plan_id: 'sms-10000' });
    await env.sleep('100 days');
    await subs.cancel('rec-sub', { request_id: 'x1', by: 'recorder' });
  });
  const history = await env.client.workflow.getHandle(workflowIdFor('rec-sub')).fetchHistory();
  const out = join(__dirname, '..', 'test', 'workflows', 'histories', `${name}.json`);
  writeFileSync(out, JSON.stringify(temporal.api.history.v1.History.toObject(history as never, { longs: String, enums: String, bytes: String }), null, 1));
  console.log(`wrote ${out} (${history.events?.length} events)`);
  await env.teardown();
  await sql.end();
  await pg.stop();
}

main(process.argv[2] ?? 'subscription-v1').catch((err) => {
  console.error(err);
  process.exit(1);
});
