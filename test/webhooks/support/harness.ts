import { afterAll, beforeAll, onTestFinished } from 'vitest';
import type { Sql } from '../../../src/db/client';
import { createWebhookService, type RegisteredEndpoint, type WebhookService } from '../../../src/webhooks';
import { createAccount, useTestDatabase } from '../../support/db';
import { startReceiver, type Receiver } from './receiver';

export interface WebhookHarness {
  sql: Sql;
  receiver: Receiver;
  /** The service with the real global fetch and clock. */
  webhooks: WebhookService;
  /** A fresh account, so tests in one file do not see each other's deliveries. */
  account(prefix?: string): Promise<string>;
  /**
   * Registers an endpoint whose URL is a fresh path on the receiver, which verifies with its secret. A global one is
   * deleted when the test ends, lest it receive the next tests' events.
   */
  endpoint(account_id: string | null, via?: WebhookService): Promise<RegisteredEndpoint & { path: string }>;
}

/** Call at the top of a describe: one database and one receiver per file. */
export function useWebhookHarness(): WebhookHarness {
  let sql: Sql | undefined;
  let receiver: Receiver | undefined;
  let webhooks: WebhookService | undefined;
  let seq = 0;
  beforeAll(async () => {
    sql = (await useTestDatabase()).sql;
    receiver = await startReceiver();
    webhooks = createWebhookService({ sql });
  });
  afterAll(async () => {
    await receiver?.close();
  });
  const harness: WebhookHarness = {
    get sql() { return sql!; },
    get receiver() { return receiver!; },
    get webhooks() { return webhooks!; },
    async account(prefix = 'acc') {
      const id = `${prefix}-${++seq}`;
      await createAccount(harness.sql, id);
      return id;
    },
    async endpoint(account_id, via = harness.webhooks) {
      const path = `/hooks/${++seq}`;
      const ep = await via.registerEndpoint({ url: harness.receiver.url(path), account_id });
      harness.receiver.accept(path, ep.secret);
      if (account_id === null) onTestFinished(async () => { await via.deleteEndpoint(ep.id); });
      return { ...ep, path };
    },
  };
  return harness;
}

export async function deliveryRow(sql: Sql, id: string) {
  const [row] = await sql<{ attempts: number; last_status: number | null; last_error: string | null;
    delivered_at: Date | null }[]>`
    select attempts, last_status, last_error, delivered_at from webhook_deliveries where id = ${id}`;
  return row;
}
