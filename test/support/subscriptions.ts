import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Catalog } from '../../src/catalog/schema';
import { balances, debit } from '../../src/ledger';
import { createSubscriptionService, type SubscriptionService } from '../../src/subscriptions/service';
import { stateQuery, workflowIdFor, type SubscriptionView } from '../../src/workflows/messages';
import { createAccount, useTestDatabase, type TestDatabase } from './db';
import { createTestWorker, timeSkippingEnv, type TestWorker } from './temporal';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * A time-skipping Temporal server, a real worker and a test database for one test file. Time only moves when a
 * test sleeps; ledger calls made by the test act at the server's current time.
 */
export class SubscriptionHarness {
  env!: TestWorkflowEnvironment;
  db!: TestDatabase;
  w!: TestWorker;
  service!: SubscriptionService;
  private running!: Promise<void>;

  static use(catalog?: Catalog): SubscriptionHarness {
    const h = new SubscriptionHarness();
    beforeAll(async () => {
      h.db = await useTestDatabase();
      h.env = await timeSkippingEnv();
      h.w = await createTestWorker(h.env, h.db.sql, catalog);
      h.running = h.w.worker.run();
      h.service = createSubscriptionService({ client: h.env.client, sql: h.db.sql, taskQueue: h.w.taskQueue });
    });
    afterAll(async () => {
      h.w?.worker.shutdown();
      await h.running;
      await h.env?.teardown();
    });
    return h;
  }

  get sql() {
    return this.db.sql;
  }

  async nowMs(): Promise<number> {
    return this.env.currentTimeMs();
  }

  /** Lets server time pass (timers fire, activities run) up to `ms`. */
  async advanceTo(ms: number): Promise<void> {
    const now = await this.nowMs();
    if (ms > now) await this.env.sleep(ms - now);
  }

  async advanceBy(ms: number): Promise<void> {
    await this.env.sleep(ms);
  }

  async account(id: string, opts: { timeZone?: string; country?: string } = {}): Promise<void> {
    await createAccount(this.sql, id, opts);
  }

  async start(subscriptionId: string, accountId: string, planId: string) {
    const r = await this.service.start({ subscriptionId, accountId, planId, startedBy: 'test' });
    if (!r.ok) throw new Error(`start refused: ${r.refusal} ${r.message}`);
    return r.value;
  }

  async view(subscriptionId: string): Promise<SubscriptionView> {
    return this.env.client.workflow.getHandle(workflowIdFor(subscriptionId)).query(stateQuery);
  }

  async available(accountId: string, creditType: string): Promise<number> {
    const rows = await balances(this.sql, accountId, new Date(await this.nowMs()));
    return rows.find((r) => r.credit_type === creditType)?.available_credits ?? 0;
  }

  /** Usage at the current server time, as the usage path would draw it. */
  async use(accountId: string, creditType: string, amount: number, key: string) {
    return debit(this.sql, { key, accountId, creditType, amountCredits: amount, asOf: new Date(await this.nowMs()) });
  }

  async invoices(accountId: string) {
    return this.sql<{ amount_minor: number; status: string; description: string }[]>`
      select amount_minor, status, description from invoices where account_id = ${accountId} order by created_at, id`;
  }

  async expectStatus(subscriptionId: string, status: SubscriptionView['status']) {
    expect((await this.view(subscriptionId)).status).toBe(status);
  }
}
